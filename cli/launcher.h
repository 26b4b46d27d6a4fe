#pragma once
// --nproc N: a job of N local ranks started by trackbench itself, through Open MPI's mpirun.
#include <string>
#include <vector>

namespace trackbench::cli {

// Runs this executable's `arguments` (argv, --nproc and its value removed) as N ranks under
// `mpirun -np N` on this machine and waits for them; returns the job's exit code (mpirun's:
// non-zero when any rank failed, 128 + the signal that ended it). The ranks share a job folder
// (TRACKBENCH_JOB_DIR, a temporary one by default) in which a waiting rank tells a dead or hung
// peer from a slow one. Throws input_error when already under a launcher or mpirun is missing.
int run_local_ranks(int nproc, const std::vector<std::string>& arguments);

// `arguments` without "--nproc N" / "--nproc=N".
std::vector<std::string> without_nproc(const std::vector<std::string>& arguments);

}  // namespace trackbench::cli
