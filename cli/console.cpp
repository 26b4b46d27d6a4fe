#include "console.h"

#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "trackbench/tracking/recording/target.h"

namespace trackbench::cli {

void configure_logging(bool verbose, bool quiet, const std::string& log_file) {
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  console->set_level(quiet ? spdlog::level::warn : verbose ? spdlog::level::debug : spdlog::level::info);
  console->set_pattern("%^%l%$: %v");
  std::vector<spdlog::sink_ptr> sinks{console};
  if (!log_file.empty()) {
    auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file);
    file->set_level(spdlog::level::debug);
    file->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l: %v");
    sinks.push_back(file);
  }
  auto logger = std::make_shared<spdlog::logger>("trackbench", sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::debug);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

std::vector<tracking::snapshot_record> read_records(const std::vector<std::filesystem::path>& paths, bool no_index) {
  tracking::index_report report;
  auto records =
      tracking::read_indexed_records(paths, no_index ? tracking::index_use::bypass : tracking::index_use::use, &report);
  for (const auto& problem : report.problems) spdlog::warn("snapshot index not used: {}", printable(problem));
  spdlog::debug("{} records from snapshot indexes, {} read from the files ({} indexed)", report.from_index,
                report.from_files, report.stored);
  return records;
}

std::string format_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 4) {
    value /= 1024.0;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

std::string format_duration(double seconds) {
  const auto total = static_cast<long>(seconds + 0.5);
  return total >= 60 ? fmt::format("{}m{:02}s", total / 60, total % 60) : fmt::format("{}s", total);
}

std::string percent(double fraction) { return fmt::format("{:.2f}%", 100.0 * fraction); }

console_observer::console_observer(bool quiet) : quiet_(quiet), terminal_(::isatty(STDERR_FILENO) == 1) {}

void console_observer::clear_bar() {
  if (bar_visible_) {
    std::fputs("\r\033[2K", stderr);
    std::fflush(stderr);
    bar_visible_ = false;
  }
}

void console_observer::on_step(const trainer::step_progress& p) {
  if (quiet_) return;
  const double fraction = static_cast<double>(p.step) / static_cast<double>(p.steps);
  const double eta = fraction > 0.0 ? p.elapsed_seconds * (1.0 - fraction) / fraction : 0.0;
  if (!terminal_) {
    // Plain lines at each quarter of an epoch keep a log file readable.
    const int quarter = static_cast<int>(fraction * 4.0);
    if (quarter > last_plain_quarter_ && p.step < p.steps) {
      last_plain_quarter_ = quarter;
      spdlog::info("epoch {}/{}: step {}/{}  loss {:.4f}  {:.0f} img/s  ETA {}", p.epoch, p.epochs, p.step, p.steps,
                   p.loss, p.images_per_second, format_duration(eta));
    }
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (p.step < p.steps && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  constexpr int width = 30;
  const int filled = static_cast<int>(fraction * width);
  fmt::print(stderr, "\r\033[2Kepoch {}/{} [{}{}] {}/{}  loss {:.4f}  {:.0f} img/s  ETA {}", p.epoch, p.epochs,
             std::string(static_cast<std::size_t>(filled), '#'), std::string(static_cast<std::size_t>(width - filled), '.'),
             p.step, p.steps, p.loss, p.images_per_second, format_duration(eta));
  std::fflush(stderr);
  bar_visible_ = true;
}

void console_observer::on_epoch(const trainer::epoch_metrics& m) {
  clear_bar();
  last_plain_quarter_ = 0;
  // The full record goes to the debug log (-v, --log-file); the table below is for reading.
  spdlog::debug(
      "epoch {}: train loss {:.6f} acc {:.6f}; test loss {:.6f} acc {:.6f} precision {:.6f} recall {:.6f} f1 {:.6f}; "
      "lr {:g}; {:.3f} s ({:.3f} s training), {:.1f} img/s, peak RSS {} bytes",
      m.epoch, m.train_loss, m.train_accuracy, m.test.loss, m.test.accuracy, m.test.precision, m.test.recall, m.test.f1,
      m.learning_rate, m.epoch_seconds, m.train_seconds, m.images_per_second, m.peak_rss_bytes);
  if (m.validation) {
    spdlog::debug("epoch {}: validation loss {:.6f} acc {:.6f} precision {:.6f} recall {:.6f} f1 {:.6f}", m.epoch,
                  m.validation->loss, m.validation->accuracy, m.validation->precision, m.validation->recall,
                  m.validation->f1);
  }
  for (int actual = 0; actual < trainer::class_count; ++actual) {
    spdlog::debug("epoch {}: test confusion, digit {}: {}", m.epoch, actual, fmt::join(m.test.confusion[actual], " "));
  }
  if (quiet_) return;
  if (!header_printed_) {
    fmt::print("{:>5} {:>10} {:>9} {:>9} {:>8} {:>9} {:>8} {:>7} {:>9} {:>7} {:>8} {:>10}\n", "epoch", "train_loss",
               "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "test_f1", "lr", "time", "img/s", "peak_mem");
    header_printed_ = true;
  }
  const std::string val_loss = m.validation ? fmt::format("{:.4f}", m.validation->loss) : "-";
  const std::string val_acc = m.validation ? percent(m.validation->accuracy) : "-";
  const std::int64_t peak = m.peak_cuda_bytes.value_or(m.peak_rss_bytes);
  fmt::print("{:>5} {:>10.4f} {:>9} {:>9} {:>8} {:>9.4f} {:>8} {:>7.4f} {:>9.2e} {:>7} {:>8.0f} {:>10}\n", m.epoch,
             m.train_loss, percent(m.train_accuracy), val_loss, val_acc, m.test.loss, percent(m.test.accuracy), m.test.f1,
             m.learning_rate, fmt::format("{:.1f}s", m.epoch_seconds), m.images_per_second,
             format_bytes(static_cast<std::uint64_t>(peak)));
  std::fflush(stdout);
}

void print_run_summary(const trainer::trainer& run, const tracking::run_record& record, double total_seconds,
                       const std::filesystem::path& snapshot) {
  const auto& history = record.epochs;
  if (history.empty()) return;
  const std::string dataset_name = record.data.value("name", std::string());
  const std::string target = tracking::describe_target(record);
  const auto& last = history.back();
  const auto& config = run.config();
  double images_per_second = 0.0;
  std::int64_t peak_rss = 0;
  for (const auto& m : history) {
    images_per_second += m.images_per_second / static_cast<double>(history.size());
    peak_rss = std::max(peak_rss, m.peak_rss_bytes);
  }
  const auto row = [](const std::string& key, const std::string& value) { fmt::print("  {:<22} {}\n", key, value); };
  fmt::print("\nsummary\n");
  row("data set", fmt::format("{} ({} train, {} validation, {} test)", dataset_name, run.train_size(),
                              run.validation_size(), run.test_size()));
  row("device", fmt::format("{} ({} threads)", run.device().str(), run.threads()));
  row("model", fmt::format("digit CNN, conv {}", trainer::conv_name(config.conv, config.conv_version)));
  row("optimizer", fmt::format("{} lr {:g}{}, batch {}", trainer::to_string(config.optimizer), config.learning_rate,
                               config.one_cycle ? " (one-cycle)" : "", config.batch_size));
  row("precision", kernels::to_string(config.precision));
  row("warm-up", fmt::format("{:.3f} s before the first step", run.warmup_seconds()));
  row("epochs", fmt::format("{} in {}", history.size(), format_duration(total_seconds)));
  if (!target.empty()) row("target", target);
  row("test accuracy", percent(last.test.accuracy));
  row("test loss", fmt::format("{:.4f}", last.test.loss));
  row("test macro P / R / F1", fmt::format("{:.4f} / {:.4f} / {:.4f}", last.test.precision, last.test.recall, last.test.f1));
  if (last.validation) row("validation accuracy", percent(last.validation->accuracy));
  row("mean images/s", fmt::format("{:.0f}", images_per_second));
  row("peak memory (RSS)", format_bytes(static_cast<std::uint64_t>(peak_rss)));
  if (last.peak_cuda_bytes) row("peak CUDA allocated", format_bytes(static_cast<std::uint64_t>(*last.peak_cuda_bytes)));
  row("snapshot", snapshot.string());
}

}  // namespace trackbench::cli
