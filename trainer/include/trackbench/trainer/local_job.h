#pragma once
// A job of N ranks on this machine that trackbench starts itself, through Open MPI's mpirun:
// `trackbench train --nproc N`, and the trainer suite's scaling benchmarks.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace trackbench::trainer {

struct local_job {
  int nproc = 1;
  // This executable's arguments for every rank, argv[0] left out.
  std::vector<std::string> arguments;
  // Called once every rank has ended, with the job folder (still there) and the job's exit
  // code: what the ranks left in the folder is read here (rank 0's notes).
  std::function<void(const std::filesystem::path& job_dir, int exit_code)> on_end;
};

// Runs this executable as `job.nproc` ranks under `mpirun -np N` and waits for them; returns the
// job's exit code (mpirun's: non-zero when any rank failed, 128 + the signal that ended it). A
// SIGINT or SIGTERM meanwhile is passed on to mpirun, which stops every rank. The ranks share a
// job folder (TRACKBENCH_JOB_DIR, a temporary one by default, removed afterwards) in which a
// waiting rank tells a dead or hung peer from a slow one. Throws input_error when already under
// a launcher or mpirun is missing.
int run_local_job(const local_job& job);

// The folder of the local job this process is a rank of (TRACKBENCH_JOB_DIR); empty outside one.
std::filesystem::path job_dir();

// Writes `text` to the file `name` in this rank's job folder, replacing it whole (a rename), so
// that the launcher never reads half of it; does nothing outside a local job.
void write_job_note(const std::string& name, const std::string& text);

// The text of the note `name` in `dir`; empty when there is none.
std::string read_job_note(const std::filesystem::path& dir, const std::string& name);

}  // namespace trackbench::trainer
