#include "letterbox/server/mailbox_notifier.h"

#include <algorithm>

namespace letterbox::server {

bool MailboxNotifier::Register(const storage::DeviceAddress& device, Listener* listener) {
  absl::MutexLock lock(&mu_);
  if (closed_) return false;
  auto entry = std::make_unique<Entry>();
  entry->listener = listener;
  listeners_[device].push_back(std::move(entry));
  return true;
}

void MailboxNotifier::Unregister(const storage::DeviceAddress& device, Listener* listener) {
  absl::MutexLock lock(&mu_);
  auto it = listeners_.find(device);
  if (it == listeners_.end()) return;
  auto& entries = it->second;
  auto pos = std::find_if(entries.begin(), entries.end(),
                          [&](const auto& e) { return e->listener == listener; });
  if (pos == entries.end()) return;
  Entry* entry = pos->get();
  entry->removed = true;
  mu_.Await(absl::Condition(
      +[](Entry* e) { return e->running == 0; }, entry));
  // The map may have been rehashed while waiting; look the vector up again.
  auto& current = listeners_[device];
  std::erase_if(current, [&](const auto& e) { return e.get() == entry; });
  if (current.empty()) listeners_.erase(device);
}

void MailboxNotifier::Collect(const storage::DeviceAddress& device, std::vector<Entry*>* out) {
  auto it = listeners_.find(device);
  if (it == listeners_.end()) return;
  for (auto& entry : it->second) {
    if (entry->removed) continue;
    ++entry->running;
    out->push_back(entry.get());
  }
}

void MailboxNotifier::Dispatch(const std::vector<Entry*>& entries, Call call) {
  for (Entry* entry : entries) {
    if (call == Call::kChanged) {
      entry->listener->OnMailboxChanged();
    } else {
      entry->listener->OnClose();
    }
  }
  if (entries.empty()) return;
  absl::MutexLock lock(&mu_);
  for (Entry* entry : entries) --entry->running;
}

void MailboxNotifier::Notify(const storage::DeviceAddress& device) {
  std::vector<Entry*> entries;
  {
    absl::MutexLock lock(&mu_);
    Collect(device, &entries);
  }
  Dispatch(entries, Call::kChanged);
}

void MailboxNotifier::CloseDevice(const storage::DeviceAddress& device) {
  std::vector<Entry*> entries;
  {
    absl::MutexLock lock(&mu_);
    Collect(device, &entries);
  }
  Dispatch(entries, Call::kClose);
}

void MailboxNotifier::CloseAll() {
  std::vector<Entry*> entries;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    for (auto& [device, list] : listeners_) {
      for (auto& entry : list) {
        if (entry->removed) continue;
        ++entry->running;
        entries.push_back(entry.get());
      }
    }
  }
  Dispatch(entries, Call::kClose);
}

size_t MailboxNotifier::ListenerCount() {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [device, list] : listeners_) n += list.size();
  return n;
}

}  // namespace letterbox::server
