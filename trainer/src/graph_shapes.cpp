#include "trackbench/trainer/graph_shapes.h"

#include <algorithm>
#include <utility>

namespace trackbench::trainer {

graph_shapes graph_shapes_for(std::int64_t train_count, std::int64_t validation_count, std::int64_t test_count,
                              std::int64_t batch_size, std::int64_t eval_batch_size) {
  graph_shapes shapes;
  shapes.train.insert(std::min(batch_size, train_count));
  if (train_count % batch_size != 0) shapes.train.insert(train_count % batch_size);
  for (const auto& [split, count] : {std::pair{evaluation_split::validation, validation_count},
                                     std::pair{evaluation_split::test, test_count}}) {
    if (count >= eval_batch_size) shapes.evaluation.emplace(eval_batch_size, split);
    if (count % eval_batch_size != 0) shapes.evaluation.emplace(count % eval_batch_size, split);
  }
  return shapes;
}

}  // namespace trackbench::trainer
