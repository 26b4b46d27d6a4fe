#pragma once
// SIGINT and SIGTERM ask a run to stop: the current snapshot write finishes, the run is
// marked interrupted and trackbench exits. A second signal terminates at once. Only the
// commands that train or benchmark install this (through the recording library); the others (show, compare, ...) end on the
// first signal, as any command line tool does.
namespace trackbench::tracking {

void install_stop_handlers();
// The signal that asked to stop, or 0.
int stop_signal();

}  // namespace trackbench::tracking
