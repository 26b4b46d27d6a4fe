#include "record_codec.h"

#include <stdexcept>

namespace trackbench::tracking::record_codec {
namespace {

using json = nlohmann::ordered_json;

// CBOR keeps float64 values exactly (JSON text would turn NaN into null) and strings as the
// bytes they are (a crafted file's text need not be UTF-8).
std::string to_bytes(const json& document) {
  const auto cbor = json::to_cbor(document);
  return {cbor.begin(), cbor.end()};
}

json from_bytes(const std::string& bytes) {
  try {
    return json::from_cbor(bytes);
  } catch (const json::exception& e) {
    throw std::logic_error(std::string("a guarded reader's record does not decode: ") + e.what());
  }
}

json encode(const trainer::classification_metrics& metrics) {
  json confusion = json::array();
  for (const auto& row : metrics.confusion) {
    for (const auto count : row) confusion.push_back(count);
  }
  return json::array({metrics.loss, metrics.accuracy, metrics.precision, metrics.recall, metrics.f1, confusion});
}

trainer::classification_metrics decode_metrics(const json& fields) {
  trainer::classification_metrics metrics;
  metrics.loss = fields.at(0).get<double>();
  metrics.accuracy = fields.at(1).get<double>();
  metrics.precision = fields.at(2).get<double>();
  metrics.recall = fields.at(3).get<double>();
  metrics.f1 = fields.at(4).get<double>();
  const auto& confusion = fields.at(5);
  for (std::size_t actual = 0; actual < metrics.confusion.size(); ++actual) {
    for (std::size_t predicted = 0; predicted < metrics.confusion[actual].size(); ++predicted) {
      metrics.confusion[actual][predicted] = confusion.at(actual * metrics.confusion.size() + predicted).get<std::int64_t>();
    }
  }
  return metrics;
}

json encode(const trainer::epoch_metrics& epoch) {
  return json::array({epoch.epoch, epoch.train_loss, epoch.train_accuracy,
                      epoch.validation ? encode(*epoch.validation) : json(nullptr), encode(epoch.test), epoch.learning_rate,
                      epoch.epoch_seconds, epoch.train_seconds, epoch.images_per_second, epoch.peak_rss_bytes,
                      epoch.peak_cuda_bytes ? json(*epoch.peak_cuda_bytes) : json(nullptr)});
}

trainer::epoch_metrics decode_epoch(const json& fields) {
  trainer::epoch_metrics epoch;
  epoch.epoch = fields.at(0).get<int>();
  epoch.train_loss = fields.at(1).get<double>();
  epoch.train_accuracy = fields.at(2).get<double>();
  if (!fields.at(3).is_null()) epoch.validation = decode_metrics(fields.at(3));
  epoch.test = decode_metrics(fields.at(4));
  epoch.learning_rate = fields.at(5).get<double>();
  epoch.epoch_seconds = fields.at(6).get<double>();
  epoch.train_seconds = fields.at(7).get<double>();
  epoch.images_per_second = fields.at(8).get<double>();
  epoch.peak_rss_bytes = fields.at(9).get<std::int64_t>();
  if (!fields.at(10).is_null()) epoch.peak_cuda_bytes = fields.at(10).get<std::int64_t>();
  return epoch;
}

json encode(const trainer::data_profile& profile) {
  return json::array({profile.split, profile.images, profile.class_counts, profile.mean_image,
                      profile.intensity_histogram, profile.ink_histogram, profile.ink_mean, profile.ink_stddev});
}

trainer::data_profile decode_profile(const json& fields) {
  trainer::data_profile profile;
  profile.split = fields.at(0).get<std::string>();
  profile.images = fields.at(1).get<std::uint64_t>();
  profile.class_counts = fields.at(2).get<std::vector<std::uint64_t>>();
  profile.mean_image = fields.at(3).get<std::vector<double>>();
  profile.intensity_histogram = fields.at(4).get<std::vector<std::uint64_t>>();
  profile.ink_histogram = fields.at(5).get<std::vector<std::uint64_t>>();
  profile.ink_mean = fields.at(6).get<double>();
  profile.ink_stddev = fields.at(7).get<double>();
  return profile;
}

}  // namespace

std::string encode(const run_record& record) {
  json epochs = json::array();
  for (const auto& epoch : record.epochs) epochs.push_back(encode(epoch));
  json profiles = json::array();
  for (const auto& profile : record.profiles) profiles.push_back(encode(profile));
  return to_bytes(json::array({record.identity, record.tags, record.config, record.environment, record.code, record.data,
                               record.code_diff, epochs, profiles}));
}

run_record decode_run(const std::string& bytes) {
  const auto fields = from_bytes(bytes);
  try {
    run_record record;
    record.identity = fields.at(0);
    record.tags = fields.at(1);
    record.config = fields.at(2);
    record.environment = fields.at(3);
    record.code = fields.at(4);
    record.data = fields.at(5);
    record.code_diff = fields.at(6).get<std::string>();
    for (const auto& epoch : fields.at(7)) record.epochs.push_back(decode_epoch(epoch));
    for (const auto& profile : fields.at(8)) record.profiles.push_back(decode_profile(profile));
    return record;
  } catch (const json::exception& e) {
    throw std::logic_error(std::string("a guarded reader's run record is malformed: ") + e.what());
  }
}

std::string encode(const bench_record& record) {
  json benchmarks = json::array();
  for (const auto& result : record.benchmarks) {
    json samples = json::array();
    for (const auto& sample : result.samples) {
      json counters = json::array();
      for (const auto& [name, value] : sample.counters) counters.push_back(json::array({name, value}));
      samples.push_back(json::array({sample.iterations, sample.real_seconds, sample.cpu_seconds, counters}));
    }
    benchmarks.push_back(json::array({result.name, result.suite, result.run_name, result.time_unit, result.manual_time,
                                      result.label, result.skipped, result.skip_message, samples,
                                      result.instructions_per_iteration ? json(*result.instructions_per_iteration)
                                                                        : json(nullptr)}));
  }
  return to_bytes(json::array({record.identity, record.environment, record.code, record.code_diff, record.data, benchmarks}));
}

bench_record decode_bench(const std::string& bytes) {
  const auto fields = from_bytes(bytes);
  try {
    bench_record record;
    record.identity = fields.at(0);
    record.environment = fields.at(1);
    record.code = fields.at(2);
    record.code_diff = fields.at(3).get<std::string>();
    record.data = fields.at(4);
    for (const auto& stored : fields.at(5)) {
      bench_result result;
      result.name = stored.at(0).get<std::string>();
      result.suite = stored.at(1).get<std::string>();
      result.run_name = stored.at(2).get<std::string>();
      result.time_unit = stored.at(3).get<std::string>();
      result.manual_time = stored.at(4).get<bool>();
      result.label = stored.at(5).get<std::string>();
      result.skipped = stored.at(6).get<bool>();
      result.skip_message = stored.at(7).get<std::string>();
      for (const auto& kept : stored.at(8)) {
        bench_sample sample;
        sample.iterations = kept.at(0).get<std::int64_t>();
        sample.real_seconds = kept.at(1).get<double>();
        sample.cpu_seconds = kept.at(2).get<double>();
        for (const auto& counter : kept.at(3)) sample.counters.emplace_back(counter.at(0).get<std::string>(), counter.at(1).get<double>());
        result.samples.push_back(std::move(sample));
      }
      if (!stored.at(9).is_null()) result.instructions_per_iteration = stored.at(9).get<double>();
      record.benchmarks.push_back(std::move(result));
    }
    return record;
  } catch (const json::exception& e) {
    throw std::logic_error(std::string("a guarded reader's bench record is malformed: ") + e.what());
  }
}

}  // namespace trackbench::tracking::record_codec
