// The flight recorder from Python: comm.trace() as a list of dicts (the keys of the JSON dumps,
// docs/debugging.md), comm.trace_info(), `with comm.trace_label("decode step 42"):`, and
// ncclrt.dump_traces(dir).
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstdint>

#include "bindings.hpp"

namespace ncclrt::py {
namespace {

nb::object text_or_none(const char* s) { return s ? nb::cast(std::string(s)) : nb::none(); }

nb::dict entry_dict(const TraceEntry& e, std::uint32_t& label_id, nb::object& label) {
  nb::dict d;
  d["record"] = e.record;
  d["seq"] = e.seq;
  d["op"] = to_string(e.op);
  d["count"] = e.count;
  d["type"] = e.type >= 0 && e.type < kNumDataTypes
                  ? text_or_none(to_string(static_cast<DataType>(e.type)))
                  : nb::none();
  d["redop"] =
      e.reduce_op >= 0 ? text_or_none(to_string(static_cast<ReduceOp>(e.reduce_op))) : nb::none();
  d["peer"] = e.peer;
  d["send"] = reinterpret_cast<std::uintptr_t>(e.send);
  d["recv"] = reinterpret_cast<std::uintptr_t>(e.recv);
  d["stream"] = reinterpret_cast<std::uintptr_t>(e.stream);
  d["result"] = e.result == kTracePending ? nb::none() : nb::cast(e.result);
  d["thread"] = e.thread;
  d["group"] = e.group;
  d["group_depth"] = e.group_depth;
  d["captured"] = e.captured == TraceCapture::kUnknown ? nb::none()
                                                       : nb::cast(e.captured == TraceCapture::kYes);
  d["capture_id"] = e.capture_id;
  if (e.label != label_id) {
    label_id = e.label;
    label = e.label ? nb::cast(trace_label_text(e.label)) : nb::none();
  }
  d["label"] = e.label ? label : nb::none();
  d["time_ns"] = e.time_ns;
  nb::list args;
  for (auto a : e.args) args.append(a);
  d["args"] = args;
  return d;
}

// `with comm.trace_label(text):` sets the communicator's label on entry and puts the previous one
// back on exit.
struct PyTraceLabel {
  const Communicator* comm;
  std::uint32_t label;
  std::uint32_t previous = 0;
};

}  // namespace

void bind_trace(nb::module_& m, nb::class_<Communicator>& cls) {
  nb::class_<PyTraceLabel>(m, "TraceLabel",
                           "Labels the entries a communicator records inside a `with` block.")
      .def(
          "__enter__",
          [](PyTraceLabel& l) -> PyTraceLabel& {
            l.previous = l.comm->set_trace_label(l.label);
            return l;
          },
          nb::rv_policy::reference)
      .def(
          "__exit__",
          [](PyTraceLabel& l, nb::handle, nb::handle, nb::handle) {
            l.comm->set_trace_label(l.previous);
            return false;
          },
          nb::arg("exc_type").none(), nb::arg("exc").none(), nb::arg("tb").none())
      .def_prop_ro(
          "text", [](const PyTraceLabel& l) { return trace_label_text(l.label); },
          "The label recorded with the calls made inside the block.");

  cls.def(
         "trace",
         [](const Communicator& c) {
           const Trace t = c.trace();
           nb::list out;
           std::uint32_t label_id = 0;
           nb::object label = nb::none();
           for (const auto& e : t.entries) out.append(entry_dict(e, label_id, label));
           return out;
         },
         "The flight recorder's entries, oldest first, as dicts (the keys of the JSON dumps).")
      .def(
          "trace_info",
          [](const Communicator& c) {
            const Trace t = c.trace();
            nb::dict d;
            char id[17];
            std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(t.comm_id));
            d["comm_id"] = std::string(id);
            d["rank"] = t.rank;
            d["size"] = t.size;
            d["device"] = t.device;
            d["capacity"] = t.capacity;
            d["records"] = t.records;
            d["collectives"] = t.collectives;
            d["point_to_point"] = t.point_to_point;
            d["progress"] = t.progress;
            d["gpu_started"] = t.gpu_started;
            d["gpu_completed"] = t.gpu_completed;
            return d;
          },
          "The recorder's header: the communicator's id (the same on every rank), entries "
          "recorded, and in progress mode what the GPU has started and completed.")
      .def(
          "trace_label",
          [](const Communicator& c, const std::string& text) {
            return PyTraceLabel{&c, trace_label(text)};
          },
          nb::arg("text"), nb::keep_alive<0, 1>(),
          "`with comm.trace_label(\"decode step 42\"):` labels the entries recorded in the block "
          "(an interned id per entry, no copy of the text).");

  m.def(
      "dump_traces",
      [](const std::string& dir) {
        nb::gil_scoped_release release;
        return dump_traces(dir);
      },
      nb::arg("dir"),
      "Writes one JSON dump per communicator and rank of this process into `dir` (mode 0600, "
      "never overwriting); returns the paths. Read them with `ncclrt trace analyze DIR`.");
}

}  // namespace ncclrt::py
