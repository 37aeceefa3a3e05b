// The store writer: the only actor that writes the trajectory store.
// Each StoreWrite is acknowledged (StoreAck) only after it is durable in
// RocksDB (WAL on). Writes that arrive while earlier ones wait are group-
// committed: everything queued when a flush runs goes into one WriteBatch,
// so many runs writing at once cost few batches. A failed write is
// reported to each waiting sender in its ack; the writer keeps running.
// It is spawned detached (its own thread), so RocksDB I/O never stalls the
// scheduler.
#pragma once

#include <memory>

#include "actors/messages.hpp"

namespace troupe::actors {

using store_writer = caf::typed_actor<caf::replies_to<StoreWrite>::with<StoreAck>,
                                      // Internal: commit what is queued.
                                      caf::reacts_to<flush_atom>>;

store_writer spawn_store_writer(caf::actor_system& sys, std::shared_ptr<memory::Store> store);

}  // namespace troupe::actors
