#include "fault_fs.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <utility>
#include <vector>

namespace letterbox::storage::testing {
namespace {

using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

std::string Normalize(const std::string& path) {
  std::string p = std::filesystem::path(path).lexically_normal().string();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

std::string ParentOf(const std::string& normalized) {
  return std::filesystem::path(normalized).parent_path().string();
}

IOStatus Injected(FaultKind kind) {
  return kind == FaultKind::kNoSpace ? IOStatus::NoSpace("injected: no space left on device")
                                     : IOStatus::IOError("injected I/O error");
}

// A writable file that reports its writes and syncs to the FaultFs and
// refuses them while a fault is set.
class FaultWritableFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultWritableFile(FaultFs& fs, std::string fname, std::unique_ptr<rocksdb::FSWritableFile> file,
                    uint64_t size)
      : FSWritableFileOwnerWrapper(std::move(file)),
        fs_(fs),
        fname_(std::move(fname)),
        size_(size) {}

  IOStatus Append(const Slice& data, const IOOptions& options, IODebugContext* dbg) override {
    IOStatus s = fs_.CheckFault(/*sync=*/false);
    if (!s.ok()) return s;
    s = target()->Append(data, options, dbg);
    if (s.ok()) Wrote(size_ + data.size());
    return s;
  }
  IOStatus Append(const Slice& data, const IOOptions& options,
                  const rocksdb::DataVerificationInfo& info, IODebugContext* dbg) override {
    IOStatus s = fs_.CheckFault(/*sync=*/false);
    if (!s.ok()) return s;
    s = target()->Append(data, options, info, dbg);
    if (s.ok()) Wrote(size_ + data.size());
    return s;
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& options,
                            IODebugContext* dbg) override {
    IOStatus s = fs_.CheckFault(/*sync=*/false);
    if (!s.ok()) return s;
    s = target()->PositionedAppend(data, offset, options, dbg);
    if (s.ok()) Wrote(std::max(size_, offset + data.size()));
    return s;
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& options,
                            const rocksdb::DataVerificationInfo& info,
                            IODebugContext* dbg) override {
    IOStatus s = fs_.CheckFault(/*sync=*/false);
    if (!s.ok()) return s;
    s = target()->PositionedAppend(data, offset, options, info, dbg);
    if (s.ok()) Wrote(std::max(size_, offset + data.size()));
    return s;
  }
  IOStatus Truncate(uint64_t size, const IOOptions& options, IODebugContext* dbg) override {
    IOStatus s = fs_.CheckFault(/*sync=*/false);
    if (!s.ok()) return s;
    s = target()->Truncate(size, options, dbg);
    if (s.ok()) Wrote(size);
    return s;
  }
  // Syncs are recorded, not performed (fault_fs.h).
  IOStatus Sync(const IOOptions& /*options*/, IODebugContext* /*dbg*/) override { return DoSync(); }
  IOStatus Fsync(const IOOptions& /*options*/, IODebugContext* /*dbg*/) override {
    return DoSync();
  }
  // sync_file_range makes nothing durable (no metadata, no guarantee).
  IOStatus RangeSync(uint64_t /*offset*/, uint64_t /*nbytes*/, const IOOptions& /*options*/,
                     IODebugContext* /*dbg*/) override {
    return fs_.CheckFault(/*sync=*/true);
  }
  IOStatus Close(const IOOptions& options, IODebugContext* dbg) override {
    // The real file is always closed (no descriptor leaks while the power is
    // off); closing adds no data.
    return target()->Close(options, dbg);
  }

 private:
  void Wrote(uint64_t size) {
    size_ = size;
    fs_.OnWrite(fname_, size);
  }
  IOStatus DoSync() {
    const uint64_t size = fs_.SizeOf(fname_);
    IOStatus s = fs_.CheckFault(/*sync=*/true);
    if (s.ok()) fs_.OnSync(fname_, size);
    return s;
  }

  FaultFs& fs_;
  const std::string fname_;
  uint64_t size_;
};

// A directory whose Fsync makes the names of the files created in it
// durable.
class FaultDirectory final : public rocksdb::FSDirectoryWrapper {
 public:
  FaultDirectory(FaultFs& fs, std::string name, std::unique_ptr<rocksdb::FSDirectory> dir)
      : FSDirectoryWrapper(std::move(dir)), fs_(fs), name_(std::move(name)) {}

  IOStatus Fsync(const IOOptions& /*options*/, IODebugContext* /*dbg*/) override {
    return DoSync();
  }
  IOStatus FsyncWithDirOptions(const IOOptions& /*options*/, IODebugContext* /*dbg*/,
                               const rocksdb::DirFsyncOptions& /*dir_fsync_options*/) override {
    return DoSync();
  }

 private:
  IOStatus DoSync() {
    IOStatus s = fs_.CheckFault(/*sync=*/true);
    if (s.ok()) fs_.OnDirSync(name_);
    return s;
  }

  FaultFs& fs_;
  const std::string name_;
};

}  // namespace

FaultFs::FaultFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
FaultFs::~FaultFs() = default;

std::unique_ptr<rocksdb::Env> FaultFs::NewEnv(const std::shared_ptr<FaultFs>& fs) {
  return rocksdb::NewCompositeEnv(fs);
}

void FaultFs::FailWrites(FaultKind kind) {
  absl::MutexLock lock(&mu_);
  fail_writes_ = true;
  write_kind_ = kind;
}

void FaultFs::FailSyncs(FaultKind kind) {
  absl::MutexLock lock(&mu_);
  fail_syncs_ = true;
  sync_kind_ = kind;
}

void FaultFs::ClearFaults() {
  absl::MutexLock lock(&mu_);
  fail_writes_ = false;
  fail_syncs_ = false;
}

void FaultFs::CutPower() {
  absl::MutexLock lock(&mu_);
  power_off_ = true;
}

void FaultFs::RestorePower() {
  absl::MutexLock lock(&mu_);
  power_off_ = false;
}

void FaultFs::CutPowerDuringSync(uint64_t n) {
  absl::MutexLock lock(&mu_);
  syncs_until_cut_ = n;
}

bool FaultFs::power_off() const {
  absl::MutexLock lock(&mu_);
  return power_off_;
}

IOStatus FaultFs::CheckFault(bool sync) {
  absl::MutexLock lock(&mu_);
  if (sync && syncs_until_cut_ > 0 && --syncs_until_cut_ == 0) power_off_ = true;
  if (power_off_) {
    ++injected_;
    return IOStatus::IOError("injected: power is off");
  }
  if (sync && fail_syncs_) {
    ++injected_;
    return Injected(sync_kind_);
  }
  if (!sync && fail_writes_) {
    ++injected_;
    return Injected(write_kind_);
  }
  return IOStatus::OK();
}

void FaultFs::OnWrite(const std::string& fname, uint64_t size) {
  absl::MutexLock lock(&mu_);
  auto it = files_.find(fname);
  if (it != files_.end()) {
    it->second.size = size;
    it->second.synced_size = std::min(it->second.synced_size, size);
  }
}

uint64_t FaultFs::SizeOf(const std::string& fname) const {
  absl::MutexLock lock(&mu_);
  auto it = files_.find(fname);
  return it == files_.end() ? 0 : it->second.size;
}

void FaultFs::OnSync(const std::string& fname, uint64_t size) {
  absl::MutexLock lock(&mu_);
  auto it = files_.find(fname);
  if (it != files_.end()) {
    it->second.synced_size = std::max(it->second.synced_size, std::min(size, it->second.size));
  }
}

void FaultFs::OnDirSync(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  for (auto& [name, state] : files_) {
    if (ParentOf(name) == dir) state.name_durable = true;
  }
}

IOStatus FaultFs::NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                  std::unique_ptr<rocksdb::FSWritableFile>* result,
                                  IODebugContext* dbg) {
  IOStatus s = CheckFault(/*sync=*/false);
  if (!s.ok()) return s;
  const std::string name = Normalize(fname);
  const bool existed = target()->FileExists(fname, IOOptions(), dbg).ok();
  std::unique_ptr<rocksdb::FSWritableFile> file;
  s = target()->NewWritableFile(fname, opts, &file, dbg);
  if (!s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    files_[name] = FileState{.size = 0, .synced_size = 0, .name_durable = existed};
  }
  *result = std::make_unique<FaultWritableFile>(*this, name, std::move(file), 0);
  return IOStatus::OK();
}

IOStatus FaultFs::ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                     std::unique_ptr<rocksdb::FSWritableFile>* result,
                                     IODebugContext* dbg) {
  IOStatus s = CheckFault(/*sync=*/false);
  if (!s.ok()) return s;
  const std::string name = Normalize(fname);
  uint64_t size = 0;
  if (!target()->GetFileSize(fname, IOOptions(), &size, dbg).ok()) size = 0;
  std::unique_ptr<rocksdb::FSWritableFile> file;
  s = target()->ReopenWritableFile(fname, opts, &file, dbg);
  if (!s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = files_.try_emplace(name);
    if (inserted) it->second = FileState{.size = size, .synced_size = size, .name_durable = true};
  }
  *result = std::make_unique<FaultWritableFile>(*this, name, std::move(file), size);
  return IOStatus::OK();
}

IOStatus FaultFs::NewDirectory(const std::string& name, const IOOptions& io_opts,
                               std::unique_ptr<rocksdb::FSDirectory>* result, IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSDirectory> dir;
  IOStatus s = target()->NewDirectory(name, io_opts, &dir, dbg);
  if (!s.ok()) return s;
  *result = std::make_unique<FaultDirectory>(*this, Normalize(name), std::move(dir));
  return IOStatus::OK();
}

IOStatus FaultFs::DeleteFile(const std::string& fname, const IOOptions& options,
                             IODebugContext* dbg) {
  {
    absl::MutexLock lock(&mu_);
    if (power_off_) {
      ++injected_;
      return IOStatus::IOError("injected: power is off");
    }
  }
  IOStatus s = target()->DeleteFile(fname, options, dbg);
  if (s.ok()) {
    absl::MutexLock lock(&mu_);
    files_.erase(Normalize(fname));
  }
  return s;
}

IOStatus FaultFs::RenameFile(const std::string& src, const std::string& target_name,
                             const IOOptions& options, IODebugContext* dbg) {
  {
    absl::MutexLock lock(&mu_);
    if (power_off_) {
      ++injected_;
      return IOStatus::IOError("injected: power is off");
    }
  }
  IOStatus s = target()->RenameFile(src, target_name, options, dbg);
  if (s.ok()) {
    absl::MutexLock lock(&mu_);
    const std::string from = Normalize(src);
    const std::string to = Normalize(target_name);
    auto it = files_.find(from);
    if (it == files_.end()) {
      files_.erase(to);
    } else {
      FileState state = it->second;
      files_.erase(it);
      files_[to] = state;
    }
  }
  return s;
}

bool FaultFs::DropUnsyncedData() {
  std::map<std::string, FileState> files;
  {
    absl::MutexLock lock(&mu_);
    files = files_;
  }
  bool ok = true;
  std::map<std::string, FileState> kept;
  for (const auto& [name, state] : files) {
    if (!state.name_durable) {
      IOStatus s = target()->DeleteFile(name, IOOptions(), nullptr);
      if (!s.ok() && !s.IsPathNotFound() && target()->FileExists(name, IOOptions(), nullptr).ok()) {
        std::cerr << "FaultFs: cannot delete " << name << ": " << s.ToString() << "\n";
        ok = false;
      }
      continue;
    }
    uint64_t size = 0;
    if (!target()->GetFileSize(name, IOOptions(), &size, nullptr).ok()) continue;  // gone
    // The wrapped file system is POSIX, whose FileSystem::Truncate is not
    // implemented.
    if (size > state.synced_size &&
        ::truncate(name.c_str(), static_cast<off_t>(state.synced_size)) != 0) {
      std::cerr << "FaultFs: cannot truncate " << name << ": " << std::strerror(errno) << "\n";
      ok = false;
    }
    kept[name] = FileState{
        .size = state.synced_size, .synced_size = state.synced_size, .name_durable = true};
  }
  absl::MutexLock lock(&mu_);
  files_ = std::move(kept);
  return ok;
}

uint64_t FaultFs::UnsyncedBytes() const {
  absl::MutexLock lock(&mu_);
  uint64_t sum = 0;
  for (const auto& [name, state] : files_) {
    sum += state.name_durable ? state.size - state.synced_size : state.size;
  }
  return sum;
}

uint64_t FaultFs::UnsyncedFiles() const {
  absl::MutexLock lock(&mu_);
  uint64_t n = 0;
  for (const auto& [name, state] : files_) n += state.name_durable ? 0 : 1;
  return n;
}

uint64_t FaultFs::InjectedFailures() const {
  absl::MutexLock lock(&mu_);
  return injected_;
}

}  // namespace letterbox::storage::testing
