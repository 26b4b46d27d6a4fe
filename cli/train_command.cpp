#include <spdlog/spdlog.h>

#include <memory>
#include <set>

#include "commands.h"
#include "console.h"
#include "trackbench/tracking/format/guarded_read.h"
#include "trackbench/tracking/format/weights_policy.h"
#include "trackbench/tracking/recording/launch.h"
#include "trackbench/tracking/recording/recorded_run.h"
#include "trackbench/trainer/errors.h"
#include "trackbench/trainer/train.h"

namespace trackbench::cli {
namespace {

struct train_flags {
  trainer::train_config config;
  std::string dataset = "mnist-sample";
  std::string data_dir;
  std::string conv = "cudnn";
  std::string optimizer = "adam";
  std::string device = "auto";
  std::string precision = "fp32";
  std::string cuda_graphs = "off";
  std::string target;
  std::string out = "runs";
  std::string keep_weights = "last";
  std::vector<std::string> tags;
  std::string resume;
  int nproc = 1;
};

// Flags that may accompany --resume: the rest of the config comes from the snapshot.
const std::set<std::string> resume_flags{"--resume", "--out", "--tag", "--data-dir", "--nproc"};

tracking::recording_options recording(const train_flags& flags, const global_options& globals,
                                      console_observer& console) {
  tracking::recording_options options;
  options.out_dir = flags.out;
  for (const auto& tag : flags.tags) tracking::add_tag(options.tags, tag);
  options.command_line = globals.command_line;
  options.keep_weights = tracking::parse_weights_policy(flags.keep_weights);
  options.observer = &console;
  options.on_completed = print_run_summary;
  return options;
}

int run_training(train_flags& flags, const CLI::App& sub, const global_options& globals) {
  if (flags.nproc > 1) return tracking::run_local_ranks(flags.nproc, tracking::without_nproc(globals.arguments));
  console_observer console(globals.quiet);
  if (!flags.resume.empty()) {
    for (const auto* option : sub.get_options()) {
      if (option->count() > 0 && resume_flags.count(option->get_name()) == 0) {
        throw input_error(option->get_name() + " cannot be combined with --resume: the run continues with its recorded config");
      }
    }
    const auto parent = tracking::load_run_snapshot(flags.resume, "--resume", tracking::read_depth::arrays);
    return tracking::resume_recorded(parent, flags.resume, flags.data_dir, recording(flags, globals, console)).exit_code;
  }
  trainer::train_config config = flags.config;
  const auto conv = trainer::parse_conv(flags.conv);
  config.conv = conv.backend;
  config.conv_version = conv.kernel_version;
  config.optimizer = trainer::parse_optimizer(flags.optimizer);
  config.device = trainer::parse_device(flags.device);
  config.precision = trainer::parse_precision_flag(flags.precision);
  config.cuda_graphs = flags.cuda_graphs == "on";
  if (!flags.data_dir.empty()) config.data_dir = flags.data_dir;
  // A directory of IDX files is its own data set unless --dataset names it.
  config.dataset = config.data_dir && sub.count("--dataset") == 0 ? "custom" : flags.dataset;
  trainer::validate(config);
  auto options = recording(flags, globals, console);
  tracking::check_recording_options(config, options);
  if (sub.count("--target") > 0) options.target = tracking::parse_target(flags.target);

  const auto data = trainer::load_dataset(config.dataset, config.data_dir);
  spdlog::info("data set {} from {}: {} train, {} test images", data.name, data.source, data.train.size(),
               data.test.size());
  return tracking::run_recorded(config, data, tracking::run_origin{}, nullptr, options).exit_code;
}

}  // namespace

command add_train_command(CLI::App& app, const global_options& globals) {
  auto* sub = app.add_subcommand("train", "Train the digit CNN and print per-epoch results");
  auto flags = std::make_shared<train_flags>();
  auto& c = flags->config;
  sub->add_option("--dataset", flags->dataset, "Data set: mnist-sample (built in), mnist, fashion-mnist")
      ->check(CLI::IsMember({"mnist-sample", "mnist", "fashion-mnist"}))
      ->capture_default_str();
  sub->add_option("--data-dir", flags->data_dir,
                  "Directory holding the four IDX files (train/t10k images/labels, raw or .gz); default: none, --dataset decides")
      ->check(CLI::ExistingDirectory);
  sub->add_option("--conv", flags->conv, "Convolution backend: cudnn (LibTorch's own), custom (the project's CUDA kernels, default version; GPU only), "
                  "custom_vN (version N of them; runs record this form) or reference (the same op on their CPU references; CPU only)")
      ->check(CLI::IsMember(trainer::conv_names()))
      ->capture_default_str();
  sub->add_option("--optimizer", flags->optimizer, "Optimizer: adam or sgd (with --momentum)")
      ->check(CLI::IsMember({"adam", "sgd"}))
      ->capture_default_str();
  sub->add_option("--lr", c.learning_rate, "Learning rate (the peak rate with --one-cycle)")->capture_default_str();
  sub->add_option("--momentum", c.momentum, "SGD momentum")->capture_default_str();
  sub->add_option("--weight-decay", c.weight_decay, "L2 weight decay")->capture_default_str();
  sub->add_flag("--one-cycle", c.one_cycle, "One-cycle learning rate: warm up to --lr over 30% of steps, then anneal (default: off, constant --lr)");
  sub->add_option("--batch-size", c.batch_size, "Training batch size")->capture_default_str();
  sub->add_option("--eval-batch-size", c.eval_batch_size, "Evaluation batch size")->capture_default_str();
  sub->add_option("--epochs", c.epochs, "Number of epochs")->capture_default_str();
  sub->add_option("--seed", c.seed, "Seed for initialisation, dropout, the split and shuffling")->capture_default_str();
  sub->add_option("--threads", c.threads, "CPU threads; 0 uses every hardware thread")->capture_default_str();
  sub->add_flag("--deterministic", c.deterministic,
                "Deterministic algorithms only, for bitwise-repeatable runs on the same machine and thread count (default: off)");
  sub->add_option("--device", flags->device, "Training device: auto (CUDA when usable), cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  sub->add_option("--precision", flags->precision,
                  "GPU arithmetic of cuDNN, cuBLAS and the custom kernels: fp32 (IEEE products and sums) or tf32 "
                  "(tensor cores, TF32 inputs, FP32 sums; GPU only)")
      ->check(CLI::IsMember({"fp32", "tf32"}))
      ->capture_default_str();
  sub->add_option("--cuda-graphs", flags->cuda_graphs,
                  "On CUDA, capture each step into a CUDA graph once and replay it (one process; with --nproc and "
                  "other launchers the steps run eagerly); the CPU ignores it and records off. Default off: not yet "
                  "checked on a GPU")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  sub->add_option("--target", flags->target,
                  "Stop after the first epoch whose METRIC reaches VALUE (METRIC:VALUE, e.g. test_accuracy:0.97; losses "
                  "count when <= VALUE) and record the time to it, warm-up included (default: none, every epoch runs)");
  sub->add_option("--validation-fraction", c.validation_fraction,
                  "Fraction of the training set held out for validation (seeded split)")
      ->capture_default_str();
  sub->add_option("--out", flags->out, "Folder the run's snapshot <run-id>.h5 goes to")->capture_default_str();
  sub->add_option("--keep-weights", flags->keep_weights,
                  "Which epochs' weights the snapshot keeps besides the record and every epoch's parameter digests: "
                  "last (the last epoch's and the state to resume from, a file of constant size), best (also the "
                  "epoch of the highest validation accuracy), every:N (also epochs N, 2N, ...), all (every epoch, "
                  "about 4 MB each, in files beside the snapshot) or none (the record alone: it cannot be resumed, "
                  "and reproduce checks the digests and metrics)")
      ->capture_default_str();
  sub->add_option("--nproc", flags->nproc,
                  "Train data-parallel on N ranks on this machine, started through Open MPI's mpirun (CPU); each "
                  "trains --batch-size images of every global batch (docs/distributed.md). Under mpirun, srun or "
                  "torchrun leave it out")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  sub->add_option("--tag", flags->tags, "Tag the run: key=value (repeatable; default: none)");
  sub->add_option("--resume", flags->resume,
                  "Continue the run in this snapshot after its last completed epoch, with its config, optimizer and "
                  "random state, into a new snapshot (default: none)")
      ->check(CLI::ExistingFile);
  return {sub, [flags, sub, &globals] { return run_training(*flags, *sub, globals); }};
}

}  // namespace trackbench::cli
