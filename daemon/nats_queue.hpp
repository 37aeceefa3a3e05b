// The daemon's side of NATS JetStream work sharing (docs/scale-out.md):
// runs are published to one stream and fetched, by every daemon, from one
// durable pull consumer with explicit acks.
//
// Callers may rely on:
// - nats_built_in() says whether this build has the NATS client (libnats-dev
//   found at configure time). Without it connect() returns ErrorCode
//   unsupported with a message saying how to get it; nothing else changes.
// - connect() creates the stream (work-queue retention, file storage, the
//   configured duplicate window) and the durable consumer (explicit ack,
//   the configured ack wait, unlimited redeliveries) when they are missing,
//   and uses them as they are when present (several daemons may start at
//   once). Errors name the server, stream or consumer.
// - publish() returns once JetStream has stored the message (its PubAck), so
//   a run it names survives this daemon; `msg_id` goes in the Nats-Msg-Id
//   header: the same id published again within the duplicate window is
//   stored once (the result says it was a duplicate).
// - start() runs one fetch thread: it asks free_slots() how many runs this
//   daemon can take, fetches at most that many, and hands each message to
//   `intake` (on the fetch thread) with its Nats-Msg-Id. Until finish() is
//   called for that id the message is held: the thread sends an in-progress
//   ack for it every ack_wait/3 so a long run is not redelivered. A second
//   delivery of a held id replaces the held message (the newer delivery is
//   the one acknowledged).
// - finish(id, done): done = acknowledge (the run ended and is stored),
//   otherwise negative-acknowledge (JetStream redelivers it at once, to any
//   daemon). Unknown ids are ignored. A message without a Nats-Msg-Id, or
//   that intake refuses, is terminated (never redelivered) and logged.
// - stop() ends the fetch thread, negative-acknowledges what is still held
//   and closes the connection; idempotent; the destructor calls it.
// Thread-safe: finish() may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/error.hpp"
#include "daemon/config.hpp"

namespace troupe::daemon {

bool nats_built_in();

class NatsQueue {
 public:
  // How many more runs this daemon can take now (0 = fetch nothing).
  using FreeSlots = std::function<int()>;
  // A fetched message: returns false to refuse it (bad payload).
  using Intake = std::function<bool(const std::string& msg_id, const std::string& payload)>;

  static Result<std::unique_ptr<NatsQueue>> connect(const NatsConfig& config);
  ~NatsQueue();
  NatsQueue(const NatsQueue&) = delete;
  NatsQueue& operator=(const NatsQueue&) = delete;

  struct Published {
    bool duplicate = false;  // JetStream already held a message with this id
    uint64_t sequence = 0;   // the stream sequence it is stored under
  };
  Result<Published> publish(const std::string& msg_id, const std::string& payload);

  void start(FreeSlots free_slots, Intake intake);
  void finish(const std::string& msg_id, bool done);
  // Wakes the fetch thread (call when slots were freed).
  void wake();
  void stop();

  struct Impl;

 private:
  explicit NatsQueue(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace troupe::daemon
