#include <gtest/gtest.h>

#include "trackbench/trainer/metrics.h"

namespace trackbench::trainer {
namespace {

TEST(Metrics, MacroAveragesFromConfusion) {
  classification_metrics m;
  // Class 0: 8 right, 2 called 1. Class 1: 5 right, 5 called 0. Classes 2..9: 10 right each.
  m.confusion[0][0] = 8;
  m.confusion[0][1] = 2;
  m.confusion[1][1] = 5;
  m.confusion[1][0] = 5;
  for (int k = 2; k < 10; ++k) m.confusion[k][k] = 10;
  derive_from_confusion(m);
  EXPECT_DOUBLE_EQ(m.accuracy, 93.0 / 100.0);
  const double p0 = 8.0 / 13.0, r0 = 0.8, p1 = 5.0 / 7.0, r1 = 0.5;
  EXPECT_DOUBLE_EQ(m.precision, (p0 + p1 + 8.0) / 10.0);
  EXPECT_DOUBLE_EQ(m.recall, (r0 + r1 + 8.0) / 10.0);
  const double f0 = 2 * p0 * r0 / (p0 + r0), f1 = 2 * p1 * r1 / (p1 + r1);
  EXPECT_DOUBLE_EQ(m.f1, (f0 + f1 + 8.0) / 10.0);
}

TEST(Metrics, ClassesNeverPredictedCountAsZero) {
  classification_metrics m;
  for (int k = 0; k < 10; ++k) m.confusion[k][0] = 1;  // everything called 0
  derive_from_confusion(m);
  EXPECT_DOUBLE_EQ(m.accuracy, 0.1);
  EXPECT_DOUBLE_EQ(m.precision, 0.1 / 10.0);  // class 0: 1/10, others undefined -> 0
  EXPECT_DOUBLE_EQ(m.recall, 1.0 / 10.0);     // class 0: 1/1, others 0/1
}

TEST(Metrics, EmptyConfusionGivesZeros) {
  classification_metrics m;
  derive_from_confusion(m);
  EXPECT_EQ(m.accuracy, 0.0);
  EXPECT_EQ(m.f1, 0.0);
}

}  // namespace
}  // namespace trackbench::trainer
