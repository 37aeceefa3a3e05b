#include "daemon/nats_queue.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#ifdef TROUPE_HAVE_NATS
#include <nats/nats.h>
#endif

namespace troupe::daemon {

#ifndef TROUPE_HAVE_NATS

bool nats_built_in() { return false; }

struct NatsQueue::Impl {};

Result<std::unique_ptr<NatsQueue>> NatsQueue::connect(const NatsConfig& config) {
  return Error{ErrorCode::unsupported,
               "nats: this troupe was built without the NATS client, so it cannot share work through " + config.url +
                   " (install libnats-dev, as scripts/setup does, and build again)"};
}
NatsQueue::NatsQueue(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NatsQueue::~NatsQueue() = default;
Result<NatsQueue::Published> NatsQueue::publish(const std::string&, const std::string&) {
  return Error{ErrorCode::unsupported, "nats: not built in"};
}
void NatsQueue::start(FreeSlots, Intake) {}
void NatsQueue::finish(const std::string&, bool) {}
void NatsQueue::wake() {}
void NatsQueue::stop() {}

#else

bool nats_built_in() { return true; }

namespace {

constexpr const char* kMsgIdHeader = "Nats-Msg-Id";

std::string describe(natsStatus s, jsErrCode jerr = static_cast<jsErrCode>(0)) {
  std::string out = natsStatus_GetText(s);
  natsStatus last = NATS_OK;
  const char* text = nats_GetLastError(&last);
  if (text && *text && out.find(text) == std::string::npos) out += std::string(": ") + text;
  if (jerr != 0) out += " (JetStream error " + std::to_string(static_cast<int>(jerr)) + ")";
  return out;
}

int64_t to_ns(double seconds) { return static_cast<int64_t>(seconds * 1e9); }

}  // namespace

struct NatsQueue::Impl {
  NatsConfig cfg;
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  natsSubscription* sub = nullptr;

  std::mutex mu;  // held, flags, and every ack sent for a held message
  std::condition_variable cv;
  std::map<std::string, natsMsg*> held;  // by Nats-Msg-Id
  bool stopping = false;
  bool woken = false;
  bool closed = false;  // stop() ran: nothing is held any more
  bool torn_down = false;
  std::thread fetcher;
  FreeSlots free_slots;
  Intake intake;

  ~Impl() { teardown(); }

  // After the fetch thread has ended (or never started).
  void teardown() {
    if (torn_down) return;
    torn_down = true;
    if (sub) natsSubscription_Destroy(sub);  // leaves the durable consumer on the server
    sub = nullptr;
    if (nc) {
      natsConnection_FlushTimeout(nc, 2000);  // the last acks and naks reach the server
      natsConnection_Close(nc);
    }
    if (js) jsCtx_Destroy(js);
    js = nullptr;
    if (nc) natsConnection_Destroy(nc);
    nc = nullptr;
  }

  Status ensure_stream() {
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, js, cfg.stream.c_str(), nullptr, &jerr);
    if (s == NATS_OK) {
      jsStreamInfo_Destroy(si);
      return {};
    }
    if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr)
      return Error{ErrorCode::network, "nats: cannot read stream " + cfg.stream + ": " + describe(s, jerr)};
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = cfg.stream.c_str();
    const char* subjects[] = {cfg.subject.c_str()};
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Retention = js_WorkQueuePolicy;  // a message is gone once acknowledged
    sc.Storage = js_FileStorage;
    sc.Duplicates = to_ns(cfg.duplicate_window_s);
    jerr = static_cast<jsErrCode>(0);
    s = js_AddStream(&si, js, &sc, nullptr, &jerr);
    if (s == NATS_OK) {
      jsStreamInfo_Destroy(si);
      spdlog::info("nats: created stream {} (subject {})", cfg.stream, cfg.subject);
      return {};
    }
    // Another daemon may have created it in the meantime.
    jsErrCode again = static_cast<jsErrCode>(0);
    if (js_GetStreamInfo(&si, js, cfg.stream.c_str(), nullptr, &again) == NATS_OK) {
      jsStreamInfo_Destroy(si);
      return {};
    }
    return Error{ErrorCode::network, "nats: cannot create stream " + cfg.stream + ": " + describe(s, jerr)};
  }

  Status ensure_consumer() {
    jsConsumerInfo* ci = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetConsumerInfo(&ci, js, cfg.stream.c_str(), cfg.consumer.c_str(), nullptr, &jerr);
    if (s == NATS_OK) {
      if (ci->Config && ci->Config->AckWait != to_ns(cfg.ack_wait_s))
        spdlog::warn("nats: consumer {} exists with ack wait {:.1f} s (not the configured {:.1f} s); keeping it",
                     cfg.consumer, ci->Config->AckWait / 1e9, cfg.ack_wait_s);
      jsConsumerInfo_Destroy(ci);
      return {};
    }
    if (s != NATS_NOT_FOUND && jerr != JSConsumerNotFoundErr)
      return Error{ErrorCode::network, "nats: cannot read consumer " + cfg.consumer + ": " + describe(s, jerr)};
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = cfg.consumer.c_str();
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = to_ns(cfg.ack_wait_s);
    cc.MaxDeliver = -1;
    cc.FilterSubject = cfg.subject.c_str();
    cc.DeliverPolicy = js_DeliverAll;
    jerr = static_cast<jsErrCode>(0);
    s = js_AddConsumer(&ci, js, cfg.stream.c_str(), &cc, nullptr, &jerr);
    if (s == NATS_OK) {
      jsConsumerInfo_Destroy(ci);
      spdlog::info("nats: created consumer {} on {} (ack wait {:.1f} s)", cfg.consumer, cfg.stream, cfg.ack_wait_s);
      return {};
    }
    jsErrCode again = static_cast<jsErrCode>(0);
    if (js_GetConsumerInfo(&ci, js, cfg.stream.c_str(), cfg.consumer.c_str(), nullptr, &again) == NATS_OK) {
      jsConsumerInfo_Destroy(ci);
      return {};
    }
    return Error{ErrorCode::network, "nats: cannot create consumer " + cfg.consumer + ": " + describe(s, jerr)};
  }

  std::chrono::milliseconds beat() const {
    auto ms = static_cast<int64_t>(cfg.ack_wait_s * 1000 / 3);
    return std::chrono::milliseconds(std::clamp<int64_t>(ms, 100, 10000));
  }

  // Every held message gets an in-progress ack: its ack wait starts again.
  void heartbeat() {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [id, m] : held) {
      natsStatus s = natsMsg_InProgress(m, nullptr);
      if (s != NATS_OK) spdlog::warn("nats: in-progress ack for {} failed: {}", id, describe(s));
    }
  }

  void take(natsMsg* m) {
    const char* id = nullptr;
    if (natsMsgHeader_Get(m, kMsgIdHeader, &id) != NATS_OK || !id || !*id) {
      spdlog::error("nats: a message on {} has no {} header; terminated (not redelivered)", cfg.subject, kMsgIdHeader);
      natsMsg_Term(m, nullptr);
      natsMsg_Destroy(m);
      return;
    }
    std::string msg_id(id);
    std::string payload(natsMsg_GetData(m) ? natsMsg_GetData(m) : "", static_cast<size_t>(natsMsg_GetDataLength(m)));
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = held.find(msg_id);
      if (it != held.end()) {
        // Delivered again while this daemon still runs it (an in-progress
        // ack came too late): keep the newer delivery to acknowledge.
        natsMsg_Destroy(it->second);
        it->second = m;
        spdlog::info("nats: {} delivered again while running here; keeping this run", msg_id);
        return;
      }
      held.emplace(msg_id, m);
    }
    if (!intake(msg_id, payload)) {
      std::lock_guard<std::mutex> lock(mu);
      auto it = held.find(msg_id);
      if (it != held.end()) {
        natsMsg_Term(it->second, nullptr);
        natsMsg_Destroy(it->second);
        held.erase(it);
      }
      spdlog::error("nats: message {} refused; terminated (not redelivered)", msg_id);
    }
  }

  void fetch_loop() {
    const auto beat_every = beat();
    auto next_beat = std::chrono::steady_clock::now() + beat_every;
    auto quiet_until = std::chrono::steady_clock::time_point{};
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stopping) return;
      }
      int want = free_slots();
      bool idle = want <= 0;
      if (!idle) {
        natsMsgList list{nullptr, 0};
        jsErrCode jerr = static_cast<jsErrCode>(0);
        auto wait = std::min<int64_t>(beat_every.count(), 500);
        natsStatus s = natsSubscription_Fetch(&list, sub, want, wait, &jerr);
        if (s == NATS_OK) {
          for (int i = 0; i < list.Count; ++i) {
            natsMsg* m = list.Msgs[i];
            list.Msgs[i] = nullptr;  // ours now
            take(m);
          }
          natsMsgList_Destroy(&list);
        } else if (s != NATS_TIMEOUT) {
          // The server is away (the client reconnects on its own): say so
          // now and then, and try again shortly.
          auto now = std::chrono::steady_clock::now();
          if (now >= quiet_until) {
            spdlog::warn("nats: fetching from {} failed: {}; retrying", cfg.consumer, describe(s, jerr));
            quiet_until = now + std::chrono::seconds(10);
          }
          idle = true;
        }
      }
      if (idle) {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait_until(lock, std::min(next_beat, std::chrono::steady_clock::now() + std::chrono::milliseconds(500)),
                      [&] { return stopping || woken; });
        woken = false;
      }
      if (std::chrono::steady_clock::now() >= next_beat) {
        heartbeat();
        next_beat = std::chrono::steady_clock::now() + beat_every;
      }
    }
  }
};

NatsQueue::NatsQueue(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

NatsQueue::~NatsQueue() { stop(); }

Result<std::unique_ptr<NatsQueue>> NatsQueue::connect(const NatsConfig& config) {
  auto impl = std::make_unique<Impl>();
  impl->cfg = config;
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = natsOptions_SetURL(opts, config.url.c_str());
  if (s == NATS_OK) s = natsOptions_SetName(opts, "troupe daemon");
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);  // keep trying while the server is away
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 1000);
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, 5000);
  if (s == NATS_OK) s = natsConnection_Connect(&impl->nc, opts);
  if (opts) natsOptions_Destroy(opts);
  if (s != NATS_OK) return Error{ErrorCode::network, "nats: cannot connect to " + config.url + ": " + describe(s)};
  s = natsConnection_JetStream(&impl->js, impl->nc, nullptr);
  if (s != NATS_OK) return Error{ErrorCode::network, "nats: no JetStream context on " + config.url + ": " + describe(s)};
  if (Status st = impl->ensure_stream(); !st.ok()) return st.error();
  if (Status st = impl->ensure_consumer(); !st.ok()) return st.error();
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = impl->cfg.stream.c_str();
  so.Consumer = impl->cfg.consumer.c_str();
  jsErrCode jerr = static_cast<jsErrCode>(0);
  s = js_PullSubscribe(&impl->sub, impl->js, impl->cfg.subject.c_str(), impl->cfg.consumer.c_str(), nullptr, &so,
                       &jerr);
  if (s != NATS_OK)
    return Error{ErrorCode::network,
                 "nats: cannot bind to consumer " + config.consumer + " of " + config.stream + ": " + describe(s, jerr)};
  return std::unique_ptr<NatsQueue>(new NatsQueue(std::move(impl)));
}

Result<NatsQueue::Published> NatsQueue::publish(const std::string& msg_id, const std::string& payload) {
  Impl& im = *impl_;
  natsMsg* m = nullptr;
  natsStatus s = natsMsg_Create(&m, im.cfg.subject.c_str(), nullptr, payload.data(), static_cast<int>(payload.size()));
  if (s == NATS_OK) s = natsMsgHeader_Set(m, kMsgIdHeader, msg_id.c_str());
  jsPubAck* ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  if (s == NATS_OK) s = js_PublishMsg(&ack, im.js, m, nullptr, &jerr);
  if (m) natsMsg_Destroy(m);
  if (s != NATS_OK)
    return Error{ErrorCode::network, "nats: publishing run " + msg_id + " to " + im.cfg.stream + " failed: " +
                                         describe(s, jerr)};
  Published p;
  p.duplicate = ack->Duplicate;
  p.sequence = ack->Sequence;
  jsPubAck_Destroy(ack);
  return p;
}

void NatsQueue::start(FreeSlots free_slots, Intake intake) {
  Impl& im = *impl_;
  im.free_slots = std::move(free_slots);
  im.intake = std::move(intake);
  im.fetcher = std::thread([&im] { im.fetch_loop(); });
}

void NatsQueue::finish(const std::string& msg_id, bool done) {
  Impl& im = *impl_;
  std::lock_guard<std::mutex> lock(im.mu);
  auto it = im.held.find(msg_id);
  if (it == im.held.end()) return;
  natsStatus s = done ? natsMsg_Ack(it->second, nullptr) : natsMsg_Nak(it->second, nullptr);
  if (s != NATS_OK)
    spdlog::warn("nats: {} of {} failed ({}); JetStream redelivers it after the ack wait and the store's record "
                 "decides",
                 done ? "ack" : "nak", msg_id, describe(s));
  natsMsg_Destroy(it->second);
  im.held.erase(it);
  im.woken = true;
  im.cv.notify_all();
}

void NatsQueue::wake() {
  Impl& im = *impl_;
  std::lock_guard<std::mutex> lock(im.mu);
  im.woken = true;
  im.cv.notify_all();
}

void NatsQueue::stop() {
  if (!impl_) return;
  Impl& im = *impl_;
  {
    std::lock_guard<std::mutex> lock(im.mu);
    if (im.closed) return;
    im.stopping = true;
    im.cv.notify_all();
  }
  if (im.fetcher.joinable()) im.fetcher.join();
  {
    std::lock_guard<std::mutex> lock(im.mu);
    for (auto& [id, m] : im.held) {
      natsMsg_Nak(m, nullptr);  // another daemon takes it now
      natsMsg_Destroy(m);
    }
    im.held.clear();
    im.closed = true;
  }
  im.teardown();
}

#endif  // TROUPE_HAVE_NATS

}  // namespace troupe::daemon
