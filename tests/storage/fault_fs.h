// File: tests/storage/fault_fs.h
//
// A RocksDB file system for tests that remembers what a power cut would keep
// and can fail writes and syncs on demand. It wraps the real (POSIX) file
// system; files are real files, so a DB written through it can be reopened
// through it or through the default Env.
//
//   auto fs = std::make_shared<FaultFs>();
//   std::unique_ptr<rocksdb::Env> env = FaultFs::NewEnv(fs);
//   RocksDbOptions options{.path = dir, .durability = Durability::kFsync, .env = env.get()};
//   ... write through RocksDbStores::Open(options) ...
//   fs->CutPower();                   // from now on every write and sync fails
//   stores.reset();                   // close the DB (it cannot write anything)
//   REQUIRE(fs->DropUnsyncedData());  // what the disk holds after the cut
//   fs->RestorePower();               // reopen and check what survived
//
// The model (simplifications in docs/reliability.md):
//   - A file's durable size is its length at its last successful Sync/Fsync
//     (RangeSync does not count). Syncs are recorded, not performed: the
//     simulated cut is the only crash this file system models, so the real
//     fsync would only slow tests down.
//   - A file created through this file system has a durable name only after a
//     successful Fsync of its directory (FSDirectory::Fsync); until then a
//     power cut deletes it whatever its synced size.
//   - Deletes and renames are durable at once (a rename carries the file's
//     state to the new name; a renamed file whose directory was never synced
//     after its creation is still deleted by a cut).
//   - Files that existed before this file system first saw them are durable
//     in full.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"

namespace letterbox::storage::testing {

// What an injected fault returns.
enum class FaultKind {
  kIoError,  // IOStatus::IOError("injected I/O error")
  kNoSpace,  // IOStatus::NoSpace("injected: no space left on device")
};

class FaultFs final : public rocksdb::FileSystemWrapper {
 public:
  // Wraps rocksdb::FileSystem::Default().
  FaultFs();
  ~FaultFs() override;

  // An Env that runs on `fs` (rocksdb::NewCompositeEnv). The Env holds a
  // reference to `fs`; pass env.get() as RocksDbOptions::env and keep the Env
  // alive longer than the DB.
  [[nodiscard]] static std::unique_ptr<rocksdb::Env> NewEnv(const std::shared_ptr<FaultFs>& fs);

  const char* Name() const override { return "LetterboxFaultFs"; }

  // From now on every Append, PositionedAppend, Truncate and write-mode file
  // creation fails with `kind`, until ClearFaults(). Thread-safe.
  void FailWrites(FaultKind kind);
  // From now on every Sync/Fsync of a file or a directory fails with `kind`,
  // until ClearFaults(). Thread-safe.
  void FailSyncs(FaultKind kind);
  // Writes and syncs succeed again. Thread-safe.
  void ClearFaults();

  // Simulates the instant of a power cut: from now on every write, sync,
  // rename and delete fails (IOError "power is off") and changes nothing,
  // so the DB can be closed without anything reaching the disk. What was
  // durable at this instant is what DropUnsyncedData() keeps. Thread-safe.
  void CutPower();
  // Cuts the power during the `n`-th Sync/Fsync from now (n >= 1): that
  // sync fails, so the bytes it was to make durable are lost, as when the
  // power fails while the disk flushes. Thread-safe.
  void CutPowerDuringSync(uint64_t n);
  // True once the power is cut. Thread-safe.
  [[nodiscard]] bool power_off() const;
  // Ends a cut (after DropUnsyncedData()). Thread-safe.
  void RestorePower();

  // Makes the files on disk what a power cut would have left: each tracked
  // file truncated to its durable size, each file without a durable name
  // deleted. Call only while no DB is open on this file system. Returns
  // false (and says why on stderr) if a file could not be changed. After
  // it, every tracked file counts as durable in full.
  [[nodiscard]] bool DropUnsyncedData();

  // Counts for test output: bytes written but not durable, summed over
  // tracked files, and files without a durable name. Thread-safe.
  [[nodiscard]] uint64_t UnsyncedBytes() const;
  [[nodiscard]] uint64_t UnsyncedFiles() const;

  // How many writes and syncs were refused by an injected fault or a cut.
  [[nodiscard]] uint64_t InjectedFailures() const;

  // -- rocksdb::FileSystem -------------------------------------------------
  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& io_opts,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& target,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;

  // -- used by the file and directory wrappers (fault_fs.cc) --------------
  struct FileState {
    uint64_t size = 0;         // bytes written through this file system
    uint64_t synced_size = 0;  // size at the last successful Sync/Fsync
    bool name_durable = true;  // false until its directory is fsynced
  };
  // The error to return for a write (or sync if `sync`), or OK.
  rocksdb::IOStatus CheckFault(bool sync);
  // `fname` now holds `size` bytes written through this file system.
  void OnWrite(const std::string& fname, uint64_t size);
  // The size to record if a sync started now.
  uint64_t SizeOf(const std::string& fname) const;
  // A sync that started when the file held `size` bytes succeeded.
  void OnSync(const std::string& fname, uint64_t size);
  void OnDirSync(const std::string& dir);

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, FileState> files_ ABSL_GUARDED_BY(mu_);
  bool fail_writes_ ABSL_GUARDED_BY(mu_) = false;
  bool fail_syncs_ ABSL_GUARDED_BY(mu_) = false;
  FaultKind write_kind_ ABSL_GUARDED_BY(mu_) = FaultKind::kIoError;
  FaultKind sync_kind_ ABSL_GUARDED_BY(mu_) = FaultKind::kIoError;
  bool power_off_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t syncs_until_cut_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t injected_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace letterbox::storage::testing
