#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

#include "commands.h"
#include "console.h"
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
};

int run_training(train_flags& flags, const CLI::App& sub, const global_options& globals) {
  trainer::train_config config = flags.config;
  config.conv = trainer::parse_conv_backend(flags.conv);
  config.optimizer = trainer::parse_optimizer(flags.optimizer);
  config.device = trainer::parse_device(flags.device);
  if (!flags.data_dir.empty()) config.data_dir = flags.data_dir;
  // A directory of IDX files is its own data set unless --dataset names it.
  config.dataset = config.data_dir && sub.count("--dataset") == 0 ? "custom" : flags.dataset;
  trainer::validate(config);

  const auto start = std::chrono::steady_clock::now();
  const auto data = trainer::load_dataset(config.dataset, config.data_dir);
  spdlog::info("data set {} from {}: {} train, {} test images", data.name, data.source, data.train.size(),
               data.test.size());
  trainer::trainer run(config, data);
  spdlog::info("training on {} with {} threads: {} train / {} validation images, {} steps per epoch, conv {}",
               run.device().str(), run.threads(), run.train_size(), run.validation_size(), run.steps_per_epoch(),
               trainer::to_string(config.conv));
  console_observer observer(globals.quiet);
  const auto history = run.run(&observer);
  print_summary(run, data.name, history,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return 0;
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
  sub->add_option("--conv", flags->conv, "Convolution backend: cudnn (LibTorch's own)")
      ->check(CLI::IsMember(trainer::conv_backend_names()))
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
  sub->add_option("--validation-fraction", c.validation_fraction,
                  "Fraction of the training set held out for validation (seeded split)")
      ->capture_default_str();
  return {sub, [flags, sub, &globals] { return run_training(*flags, *sub, globals); }};
}

}  // namespace trackbench::cli
