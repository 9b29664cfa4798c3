#include <map>
#include <ncclrt/error.hpp>
#include <ncclrt/launch.hpp>

#include "test_support.hpp"

using namespace ncclrt;
using ncclrt_test::expect_error;
using Env = std::map<std::string, std::string>;

namespace {

LaunchInfo parse(const Env& env) {
  return parse_launch_environment([&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

}  // namespace

TEST(Launch, Torchrun) {
  auto i = parse({{"RANK", "3"},
                  {"WORLD_SIZE", "8"},
                  {"LOCAL_RANK", "1"},
                  {"MASTER_ADDR", "10.0.0.5"},
                  {"MASTER_PORT", "29500"}});
  EXPECT_EQ(i.launcher, "torchrun");
  EXPECT_EQ(i.rank, 3);
  EXPECT_EQ(i.size, 8);
  EXPECT_EQ(i.local_rank, 1);
  EXPECT_EQ(i.comm_id, "10.0.0.5:29501");  // the agent owns MASTER_PORT itself
}

TEST(Launch, OpenMpiWithCommId) {
  auto i = parse({{"OMPI_COMM_WORLD_RANK", "0"},
                  {"OMPI_COMM_WORLD_SIZE", "2"},
                  {"OMPI_COMM_WORLD_LOCAL_RANK", "0"},
                  {"NCCL_COMM_ID", "node1:4000"}});
  EXPECT_EQ(i.launcher, "openmpi");
  EXPECT_EQ(i.size, 2);
  EXPECT_EQ(i.comm_id, "node1:4000");
}

TEST(Launch, Slurm) {
  auto i = parse({{"SLURM_PROCID", "5"},
                  {"SLURM_NTASKS", "16"},
                  {"SLURM_LOCALID", "5"},
                  {"NCCL_COMM_ID", "[fe80::1]:7000"}});
  EXPECT_EQ(i.launcher, "slurm");
  EXPECT_EQ(i.rank, 5);
  EXPECT_EQ(i.local_rank, 5);
}

TEST(Launch, NcclCommIdWinsOverMasterAddress) {
  auto i = parse({{"RANK", "0"},
                  {"WORLD_SIZE", "1"},
                  {"LOCAL_RANK", "0"},
                  {"MASTER_ADDR", "a"},
                  {"MASTER_PORT", "1"},
                  {"NCCL_COMM_ID", "b:2"}});
  EXPECT_EQ(i.comm_id, "b:2");
}

TEST(Launch, MissingVariables) {
  expect_error<UsageError>([] { parse({}); }, {"no launcher variables", "RANK", "SLURM_PROCID"});
  expect_error<UsageError>(
      [] {
        parse({{"RANK", "0"}, {"LOCAL_RANK", "0"}});
      },
      {"WORLD_SIZE is not set", "torchrun"});
  expect_error<UsageError>(
      [] {
        parse({{"RANK", "0"}, {"WORLD_SIZE", "2"}});
      },
      {"LOCAL_RANK is not set"});
  expect_error<UsageError>(
      [] {
        parse({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_LOCALID", "0"}});
      },
      {"no rendezvous address", "NCCL_COMM_ID", "MASTER_ADDR"});
  expect_error<UsageError>(
      [] {
        parse({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "0"}, {"MASTER_ADDR", "h"}});
      },
      {"no rendezvous address"});
}

TEST(Launch, GarbageValues) {
  const Env base{{"WORLD_SIZE", "4"}, {"LOCAL_RANK", "0"}, {"NCCL_COMM_ID", "h:1"}};
  auto with = [&](const char* k, const char* v) {
    Env e = base;
    e["RANK"] = "1";
    e[k] = v;
    return e;
  };
  expect_error<UsageError>([&] { parse(with("RANK", "abc")); },
                           {"RANK='abc' is not a whole number"});
  expect_error<UsageError>([&] { parse(with("RANK", "-1")); }, {"RANK='-1'"});
  expect_error<UsageError>([&] { parse(with("RANK", "4")); }, {"RANK='4'", "from 0 to 3"});
  expect_error<UsageError>([&] { parse(with("RANK", " 1")); }, {"RANK=' 1'"});
  expect_error<UsageError>([&] { parse(with("RANK", "1x")); }, {"RANK='1x'"});
  expect_error<UsageError>([&] { parse(with("WORLD_SIZE", "0")); }, {"WORLD_SIZE='0'"});
  expect_error<UsageError>([&] { parse(with("WORLD_SIZE", "99999999999")); },
                           {"WORLD_SIZE='99999999999'"});
  expect_error<UsageError>([&] { parse(with("LOCAL_RANK", "")); }, {"LOCAL_RANK is not set"});
  expect_error<UsageError>([&] { parse(with("NCCL_COMM_ID", "nohostport")); },
                           {"NCCL_COMM_ID='nohostport' is not a host:port"});
  expect_error<UsageError>([&] { parse(with("NCCL_COMM_ID", "h:99999")); },
                           {"NCCL_COMM_ID='99999'"});
  Env bad_port = with("NCCL_COMM_ID", "");
  bad_port["MASTER_ADDR"] = "h";
  bad_port["MASTER_PORT"] = "http";
  expect_error<UsageError>([&] { parse(bad_port); }, {"MASTER_PORT='http'"});
}
