// File: letterbox/storage/memory_store.h
//
// The in-memory fake of the messaging server's stores, for tests and fuzz
// targets. Same contract as RocksDbStores (both run the same tests), nothing
// durable.
//
//   MemoryStores stores;
//   Server server(stores, clock, config);
#pragma once

#include <memory>

#include "letterbox/storage/stores.h"

namespace letterbox::storage {

class MemoryStores final : public Stores {
 public:
  MemoryStores();
  ~MemoryStores() override;
  MemoryStores(const MemoryStores&) = delete;
  MemoryStores& operator=(const MemoryStores&) = delete;

  AccountStore& accounts() override;
  PrekeyStore& prekeys() override;
  MailboxStore& mailboxes() override;
  SessionStore& sessions() override;
  OutboxStore& outbox() override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace letterbox::storage
