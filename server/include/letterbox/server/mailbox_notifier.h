// File: letterbox/server/mailbox_notifier.h
//
// In-process wake-ups for Subscribe streams: after a Send stores envelopes,
// the handler calls Notify(recipient), and every listener registered for
// that device is told to look at its mailbox again. Listeners are called on
// the notifying thread, outside the notifier's lock, and must not block.
//
//   class Stream : public MailboxNotifier::Listener { ... };
//   if (!notifier.Register(device, &stream)) { /* shutting down */ }
//   notifier.Notify(device);          // after MailboxStore::Store succeeded
//   notifier.Unregister(device, &stream);   // before destroying `stream`
#pragma once

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "letterbox/storage/types.h"

namespace letterbox::server {

// Thread-safe.
class MailboxNotifier {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // The device's mailbox may have new envelopes.
    virtual void OnMailboxChanged() = 0;
    // The stream must end: the server is shutting down or the device was
    // removed.
    virtual void OnClose() = 0;
  };

  MailboxNotifier() = default;
  MailboxNotifier(const MailboxNotifier&) = delete;
  MailboxNotifier& operator=(const MailboxNotifier&) = delete;

  // Registers `listener` (not owned) for `device`. Returns false, and
  // registers nothing, once CloseAll has been called.
  [[nodiscard]] bool Register(const storage::DeviceAddress& device, Listener* listener);

  // Unregisters `listener`. When it returns, no call into `listener` is
  // running or will start, so the caller may destroy it. Must not be called
  // from inside one of `listener`'s own callbacks. No-op if not registered.
  void Unregister(const storage::DeviceAddress& device, Listener* listener);

  // Calls OnMailboxChanged on every listener of `device`.
  void Notify(const storage::DeviceAddress& device);

  // Calls OnClose on every listener of `device` (it was removed).
  void CloseDevice(const storage::DeviceAddress& device);

  // Calls OnClose on every listener and refuses later registrations.
  void CloseAll();

  // How many listeners are registered (for metrics and tests).
  [[nodiscard]] size_t ListenerCount();

 private:
  struct Entry {
    Listener* listener = nullptr;
    int running = 0;  // calls into `listener` in progress
    bool removed = false;
  };
  enum class Call { kChanged, kClose };

  // Calls `call` on `entries` outside the lock, then releases them.
  void Dispatch(const std::vector<Entry*>& entries, Call call);
  void Collect(const storage::DeviceAddress& device, std::vector<Entry*>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<storage::DeviceAddress, std::vector<std::unique_ptr<Entry>>> listeners_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace letterbox::server
