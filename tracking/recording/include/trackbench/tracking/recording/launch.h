#pragma once
// --nproc N: a job of N local ranks started by trackbench itself (trainer::run_local_job), and
// what is recorded when it fails.
#include <filesystem>
#include <string>
#include <vector>

namespace trackbench::tracking {

// Runs this executable's `arguments` (argv, --nproc and its value removed) as N local ranks and
// returns the job's exit code. When the job fails and rank 0, which records it, ended without
// recording why (killed, crashed), its snapshot is marked failed here, naming rank 0.
int run_local_ranks(int nproc, const std::vector<std::string>& arguments);

// Rank 0 of a local job tells its launcher which snapshot records the job (nothing otherwise).
void note_job_snapshot(const std::filesystem::path& snapshot);

// `arguments` without "--nproc N" / "--nproc=N".
std::vector<std::string> without_nproc(const std::vector<std::string>& arguments);

}  // namespace trackbench::tracking
