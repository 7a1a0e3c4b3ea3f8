#include "grpc_services.h"

#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "letterbox/server/status_conversion.h"
#include "letterbox/server/wire.h"
#include "spdlog/spdlog.h"

namespace letterbox::server {
namespace {

constexpr std::string_view kAuthorizationKey = "authorization";
// Envelopes a Subscribe stream reads from the store at a time (it still
// writes them one by one).
constexpr uint32_t kSubscribeBatch = 64;

std::string_view View(const grpc::string_ref& s) { return {s.data(), s.size()}; }

// A server-streaming reactor that ends at once with `status`.
template <typename T>
class FailedWriter final : public grpc::ServerWriteReactor<T> {
 public:
  explicit FailedWriter(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

// A bidi reactor that ends at once with `status`.
template <typename Req, typename Resp>
class FailedBidi final : public grpc::ServerBidiReactor<Req, Resp> {
 public:
  explicit FailedBidi(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

// Streams a device's mailbox: what is stored after `after` first, then each
// envelope stored later, one write at a time. Woken by the notifier; never
// holds its lock across a store read or a write. Ends when the client
// cancels, a write fails, or the notifier closes it (shutdown, device
// removed).
class SubscribeReactor final : public grpc::ServerWriteReactor<v1::Envelope>,
                               public MailboxNotifier::Listener {
 public:
  SubscribeReactor(MessageHandler& messages, MailboxNotifier& notifier,
                   grpc::CallbackServerContext* context, storage::DeviceAddress device,
                   storage::EnvelopeId after)
      : messages_(messages),
        notifier_(notifier),
        context_(context),
        device_(device),
        after_(after) {
    registered_ = notifier_.Register(device_, this);
    if (!registered_) {
      {
        absl::MutexLock lock(&mu_);
        finished_ = true;
      }
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
      return;
    }
    Pump();
  }

  void OnMailboxChanged() override { Pump(); }
  void OnClose() override {
    End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream closed by the server"));
  }
  void OnCancel() override { End(grpc::Status::CANCELLED); }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      {
        absl::MutexLock lock(&mu_);
        finished_ = true;
        busy_ = false;
      }
      Finish(grpc::Status::CANCELLED);
      return;
    }
    Continue();
  }

  void OnDone() override {
    if (registered_) notifier_.Unregister(device_, this);
    delete this;
  }

 private:
  // Starts reading and writing unless a read or write is already running, in
  // which case that one will look again.
  void Pump() {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      if (busy_) {
        dirty_ = true;
        return;
      }
      busy_ = true;
    }
    Continue();
  }

  // Requests the end of the stream with `status`.
  void End(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      closing_ = true;
      end_status_ = status;
      if (busy_) return;  // the running read/write finishes the stream
      finished_ = true;
    }
    Finish(status);
  }

  // Runs with busy_ set: writes the next envelope or goes idle.
  void Continue() {
    for (;;) {
      std::optional<grpc::Status> end;
      {
        absl::MutexLock lock(&mu_);
        if (closing_) {
          finished_ = true;
          busy_ = false;
          end = end_status_;
        } else if (buffer_.empty()) {
          dirty_ = false;
        }
      }
      if (end.has_value()) {
        Finish(*end);
        return;
      }
      if (buffer_.empty()) {
        absl::StatusOr<storage::FetchResult> page;
        try {
          page = messages_.ReadMailbox(device_, after_, kSubscribeBatch);
        } catch (...) {
          page = absl::InternalError("exception reading mailbox");
        }
        if (!page.ok()) {
          {
            absl::MutexLock lock(&mu_);
            finished_ = true;
            busy_ = false;
          }
          Finish(Gate::Convert(page.status(), context_));
          return;
        }
        for (storage::Envelope& e : page->envelopes) buffer_.push_back(std::move(e));
        if (buffer_.empty()) {
          absl::MutexLock lock(&mu_);
          if (dirty_ || closing_) continue;
          busy_ = false;
          return;
        }
      }
      current_.Clear();
      ToProto(buffer_.front(), &current_);
      after_ = buffer_.front().id;
      buffer_.pop_front();
      StartWrite(&current_);
      return;
    }
  }

  MessageHandler& messages_;
  MailboxNotifier& notifier_;
  grpc::CallbackServerContext* const context_;
  const storage::DeviceAddress device_;
  bool registered_ = false;

  // Touched only by the one thread that set busy_.
  storage::EnvelopeId after_;
  std::deque<storage::Envelope> buffer_;
  v1::Envelope current_;

  absl::Mutex mu_;
  bool busy_ ABSL_GUARDED_BY(mu_) = false;      // a read or write is running
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;     // woken while busy
  bool closing_ ABSL_GUARDED_BY(mu_) = false;   // End was requested
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // Finish was called
  grpc::Status end_status_ ABSL_GUARDED_BY(mu_);
};

// One SendStreamResponse per SendRequest, in order. Requests are handled one
// at a time, in arrival order (where the gate runs unary calls: the work pool
// in fsync mode); the next read starts as soon as a request is handled, while
// earlier answers are still being written, so reading, handling and writing
// overlap. At most kSendStreamWindow answers wait to be written; beyond that
// reading pauses until the client takes them. Answers queued behind another
// are written with a buffer hint so gRPC can coalesce them.
class SendStreamReactor final
    : public grpc::ServerBidiReactor<v1::SendRequest, v1::SendStreamResponse> {
 public:
  SendStreamReactor(const Gate& gate, MessageHandler& messages, Principal caller)
      : gate_(gate), messages_(messages), caller_(std::move(caller)) {
    read_pending_ = true;
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      read_pending_ = false;
      if (!ok) reads_done_ = true;
      if (ok) handling_ = true;
    }
    if (!ok) {
      MaybeFinish();
      return;
    }
    if (!gate_.Offload([this] { Handle(); })) {
      v1::SendStreamResponse busy;
      Answer(Gate::ServerBusy(), &busy);
      Queue(std::move(busy));
    }
  }

  void OnWriteDone(bool ok) override {
    const v1::SendStreamResponse* next = nullptr;
    bool buffer_hint = false;
    bool read = false;
    {
      absl::MutexLock lock(&mu_);
      answers_.pop_front();
      if (!ok) failed_ = true;
      if (ok && !answers_.empty()) {
        next = &answers_.front();
        buffer_hint = answers_.size() > 1;
      } else {
        writing_ = false;
      }
      read = ResumeReadLocked();
    }
    if (next != nullptr) StartWrite(next, WriteOptionsFor(buffer_hint));
    if (read) StartRead(&request_);
    MaybeFinish();
  }

  void OnDone() override { delete this; }

 private:
  static constexpr size_t kSendStreamWindow = 64;

  static grpc::WriteOptions WriteOptionsFor(bool buffer_hint) {
    grpc::WriteOptions options;
    if (buffer_hint) options.set_buffer_hint();
    return options;
  }

  // Handles request_ (no read is running) and queues its answer.
  void Handle() {
    v1::SendStreamResponse answer;
    absl::Status status;
    try {
      status = messages_.Send(caller_, request_, answer.mutable_response());
    } catch (...) {
      status = absl::InternalError("exception in handler");
    }
    if (!status.ok()) Answer(status, &answer);
    Queue(std::move(answer));
  }

  // Ends the handling of one request: appends its answer, starts writing it
  // if nothing is being written, and reads the next request unless the window
  // is full or the stream is failing.
  void Queue(v1::SendStreamResponse answer) {
    const v1::SendStreamResponse* write = nullptr;
    bool read = false;
    bool failed = false;
    {
      absl::MutexLock lock(&mu_);
      handling_ = false;
      failed = failed_;
      if (!failed_) {
        answers_.push_back(std::move(answer));
        if (!writing_) {
          writing_ = true;
          write = &answers_.front();
        }
        read_paused_ = true;
        read = ResumeReadLocked();
      }
    }
    if (write != nullptr) StartWrite(write);
    if (read) StartRead(&request_);
    // Otherwise a read or write is still running and ends the stream.
    if (failed) MaybeFinish();
  }

  // True (and a read is then owed) if reading is paused and may go on.
  bool ResumeReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!read_paused_ || failed_ || reads_done_ || answers_.size() >= kSendStreamWindow) {
      return false;
    }
    read_paused_ = false;
    read_pending_ = true;
    return true;
  }

  // Finishes the call, once, when the client has half-closed or a write
  // failed, and no read, handling or write is still running.
  void MaybeFinish() {
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || !(reads_done_ || failed_)) return;
      if (read_pending_ && !failed_) return;
      if (handling_ || writing_) return;
      finished_ = true;
      status = failed_ ? grpc::Status::CANCELLED : grpc::Status::OK;
    }
    Finish(status);
  }

  // Replaces `answer` with the failure `status`.
  static void Answer(const absl::Status& status, v1::SendStreamResponse* answer) {
    const grpc::Status converted = Gate::Convert(status, nullptr);
    answer->Clear();
    answer->set_code(static_cast<int32_t>(converted.error_code()));
    answer->set_message(converted.error_message());
  }

  const Gate& gate_;
  MessageHandler& messages_;
  const Principal caller_;
  v1::SendRequest request_;  // filled by the running read, then used by Handle

  absl::Mutex mu_;
  std::deque<v1::SendStreamResponse> answers_ ABSL_GUARDED_BY(mu_);  // front is being written
  bool read_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;  // no read owed yet: handling or window full
  bool handling_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;  // the client half-closed (or the call ended)
  bool failed_ ABSL_GUARDED_BY(mu_) = false;      // a write failed: the client is gone
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// Writes `count` payloads of `bytes` zero bytes, one at a time.
class NoopStreamReactor final : public grpc::ServerWriteReactor<v1::NoopResponse> {
 public:
  NoopStreamReactor(uint32_t count, uint32_t bytes) : remaining_(count) {
    response_.set_payload(std::string(bytes, '\0'));
    Next();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::CANCELLED);
      return;
    }
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    if (remaining_ == 0) {
      Finish(grpc::Status::OK);
      return;
    }
    --remaining_;
    StartWrite(&response_);
  }
  uint32_t remaining_;
  v1::NoopResponse response_;
};

}  // namespace

absl::StatusOr<Principal> Gate::Check(grpc::CallbackServerContext* context, Access access) const {
  const std::string peer = PeerAddressWithoutPort(context->peer());
  if (access == Access::kNone) {
    Principal anonymous;
    anonymous.peer_address = peer;
    return anonymous;
  }
  std::optional<std::string_view> header;
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find(std::string(kAuthorizationKey)); it != metadata.end()) {
    header = View(it->second);
  }
  absl::StatusOr<Principal> principal = auth_.Authenticate(header, peer);
  if (!principal.ok()) return principal.status();
  if (access == Access::kDevice && principal->kind != Principal::Kind::kDevice) {
    return absl::PermissionDeniedError("this method needs a device session");
  }
  if (access == Access::kRelay && principal->kind != Principal::Kind::kRelay) {
    return absl::PermissionDeniedError("this method needs the relay session");
  }
  return principal;
}

bool Gate::Offload(std::function<void()> task) const {
  if (pool_ == nullptr) {
    task();
    return true;
  }
  return pool_->TrySubmit(std::move(task));
}

absl::Status Gate::ServerBusy() { return absl::UnavailableError("server busy; retry later"); }

grpc::Status Gate::Convert(const absl::Status& status, grpc::CallbackServerContext* context) {
  if (status.code() == absl::StatusCode::kInternal || status.code() == absl::StatusCode::kUnknown ||
      status.code() == absl::StatusCode::kDataLoss) {
    try {
      spdlog::error("rpc from {} failed: {}", context != nullptr ? context->peer() : "stream",
                    status.ToString());
    } catch (...) {
    }
  }
  return ToGrpcStatus(status);
}

grpc::ServerWriteReactor<v1::Envelope>* MessageServiceImpl::Subscribe(
    grpc::CallbackServerContext* c, const v1::SubscribeRequest* q) {
  try {
    absl::StatusOr<Principal> principal = gate_.Check(c, Access::kDevice);
    if (!principal.ok()) {
      return new FailedWriter<v1::Envelope>(Gate::Convert(principal.status(), c));
    }
    return new SubscribeReactor(handler_, notifier_, c, principal->device, q->after());
  } catch (...) {
    return new FailedWriter<v1::Envelope>(
        Gate::Convert(absl::InternalError("exception in Subscribe"), c));
  }
}

grpc::ServerBidiReactor<v1::SendRequest, v1::SendStreamResponse>* MessageServiceImpl::SendStream(
    grpc::CallbackServerContext* c) {
  using Failed = FailedBidi<v1::SendRequest, v1::SendStreamResponse>;
  try {
    absl::StatusOr<Principal> principal = gate_.Check(c, Access::kDevice);
    if (!principal.ok()) return new Failed(Gate::Convert(principal.status(), c));
    return new SendStreamReactor(gate_, handler_, *std::move(principal));
  } catch (...) {
    return new Failed(Gate::Convert(absl::InternalError("exception in SendStream"), c));
  }
}

grpc::ServerUnaryReactor* DiagnosticsServiceImpl::Noop(grpc::CallbackServerContext* c,
                                                       const v1::NoopRequest* /*q*/,
                                                       v1::NoopResponse* /*r*/) {
  grpc::ServerUnaryReactor* reactor = c->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<v1::NoopResponse>* DiagnosticsServiceImpl::NoopStream(
    grpc::CallbackServerContext* c, const v1::NoopStreamRequest* q) {
  if (q->count() > kMaxNoopStreamCount) {
    return new FailedWriter<v1::NoopResponse>(
        Gate::Convert(absl::InvalidArgumentError("count: more than 1000000"), c));
  }
  if (q->payload_bytes() > kMaxNoopPayloadBytes) {
    return new FailedWriter<v1::NoopResponse>(
        Gate::Convert(absl::InvalidArgumentError("payload_bytes: more than 65536"), c));
  }
  try {
    return new NoopStreamReactor(q->count(), q->payload_bytes());
  } catch (...) {
    return new FailedWriter<v1::NoopResponse>(
        Gate::Convert(absl::InternalError("exception in NoopStream"), c));
  }
}

}  // namespace letterbox::server
