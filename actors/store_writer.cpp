#include "actors/store_writer.hpp"

namespace troupe::actors {
namespace {

struct WriterState {
  std::shared_ptr<memory::Store> store;
  StoreWrite batch;
  std::vector<caf::typed_response_promise<StoreAck>> waiting;
  bool flush_scheduled = false;
  static inline const char* name = "store_writer";
};

template <class T>
void append(std::vector<T>& into, std::vector<T>& from) {
  into.insert(into.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

store_writer::behavior_type writer(store_writer::stateful_pointer<WriterState> self,
                                   std::shared_ptr<memory::Store> store) {
  self->state.store = std::move(store);
  return {
      [=](StoreWrite& w) -> caf::result<StoreAck> {
        auto& st = self->state;
        append(st.batch.steps, w.steps);
        append(st.batch.pairs, w.pairs);
        append(st.batch.runs, w.runs);
        append(st.batch.calls, w.calls);
        st.waiting.push_back(self->make_response_promise<StoreAck>());
        // The flush message queues behind everything already in the
        // mailbox, so all writes sent before it share one batch.
        if (!st.flush_scheduled) {
          st.flush_scheduled = true;
          self->send(self, flush_atom_v);
        }
        return st.waiting.back();
      },
      [=](flush_atom) {
        auto& st = self->state;
        st.flush_scheduled = false;
        StoreWrite batch = std::move(st.batch);
        st.batch = {};
        auto waiting = std::move(st.waiting);
        st.waiting.clear();
        memory::WriteSet set{std::move(batch.steps), std::move(batch.pairs), std::move(batch.runs),
                             std::move(batch.calls)};
        Status s = st.store->commit(set);
        StoreAck ack;
        if (!s.ok()) {
          ack.ok = false;
          ack.error = s.error().describe();
        }
        for (auto& p : waiting) p.deliver(ack);
      },
  };
}

}  // namespace

store_writer spawn_store_writer(caf::actor_system& sys, std::shared_ptr<memory::Store> store) {
  return sys.spawn<caf::detached>(writer, std::move(store));
}

}  // namespace troupe::actors
