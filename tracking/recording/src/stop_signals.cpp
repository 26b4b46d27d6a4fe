#include "trackbench/tracking/recording/stop_signals.h"

#include <csignal>

namespace trackbench::tracking {
namespace {

volatile std::sig_atomic_t requested = 0;

extern "C" void request_stop(int signal_number) {
  requested = signal_number;
  std::signal(signal_number, SIG_DFL);  // a second one is not ignored
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = request_stop;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // writes in progress carry on
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int stop_signal() { return requested; }

}  // namespace trackbench::tracking
