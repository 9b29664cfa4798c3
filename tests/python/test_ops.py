"""ncclrt's collectives as torch custom ops (ncclrt.ops), on the CPU: schemas, fake
implementations (symbolic sizes too), opcheck on every op, gradients, torch.compile with no graph
break (a tensor-parallel block, the vLLM class's methods), recompilation for a new shape, what
reaches "NCCL" and what the flight recorder keeps, and the errors. Values come from SimComm (ranks
that all hold the same input, tests/python/op_doubles.py); what reaches NCCL from the recording
stand-in. The same ops on GPUs, in CUDA graphs and with 2 and 4 real ranks:
scripts/gpu/compiled_model.sh."""
import gc
import os
import sys

import pytest

torch = pytest.importorskip(
    "torch", minversion="2.8",
    reason="ncclrt.ops needs torch >= 2.8, not installed here (CI installs no torch: "
           "docs/python.md, 'In a compiled model')")

import ncclrt  # noqa: E402
import ncclrt.ops as ops  # noqa: E402
from conftest import run_python  # noqa: E402
from op_doubles import PointerComm, SimComm  # noqa: E402

ns = torch.ops.ncclrt
W = 2  # ranks SimComm plays
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def sim():
    comm = SimComm(W, 1)
    ops.register_communicator("sim", comm)
    yield comm
    ops.unregister_communicator("sim")


@pytest.fixture
def rec(newest):
    """A communicator of the recording stand-in, registered as 'rec' (rank 1 of 4)."""
    comm = newest.comm(4, 1)
    ops.register_communicator("rec", PointerComm(comm))
    newest.clear()
    yield newest, comm
    ops.unregister_communicator("rec")


def x46():
    return torch.arange(24, dtype=torch.float32).reshape(4, 6)


# ---- every op: schema, fake, opcheck --------------------------------------------------------

def op_cases(x):
    """(op, args) for each op, on SimComm."""
    return [
        ("all_reduce", (x, "sim")), ("all_reduce.redop", (x, "sim", "max")),
        ("all_reduce_", (x.clone(), "sim")), ("all_reduce_into", (torch.empty(4, 6), x, "sim")),
        ("all_gather", (x, 0, W, "sim")), ("all_gather", (x, 1, W, "sim")),
        ("all_gather", (x, -1, W, "sim")), ("all_gather_into", (torch.empty(8, 6), x, "sim")),
        ("all_gatherv_into", (torch.empty(8, 6), x, [4, 4], "sim")),
        ("reduce_scatter", (x, 0, W, "sim")), ("reduce_scatter.redop", (x, 1, W, "sim", "avg")),
        ("reduce_scatter_into", (torch.empty(2, 6), x, "sim")),
        ("reduce_scatterv_into", (torch.empty(1, 6), x, [3, 1], "sim")),
        ("broadcast", (x, 1, "sim")), ("broadcast_", (x.clone(), 0, "sim")),
        ("all_to_all", (x, "sim")), ("send", (x, 0, "sim")), ("recv", (x, 0, "sim")),
        ("recv_", (x.clone(), 0, "sim")),
    ]


def test_every_op_is_registered_with_a_fake_and_a_schema():
    assert set(ops.OPS) == {
        "all_reduce", "all_reduce.redop", "all_reduce_", "all_reduce_into", "all_gather",
        "all_gather_into", "all_gatherv_into", "reduce_scatter", "reduce_scatter.redop",
        "reduce_scatter_into", "reduce_scatterv_into", "broadcast", "broadcast_", "all_to_all",
        "send", "recv", "recv_"}
    # the sums have vLLM's schemas (no default argument to pay for on every call)
    assert str(ns.all_reduce.default._schema) == \
        "ncclrt::all_reduce(Tensor input, str comm) -> Tensor"
    assert str(ns.reduce_scatter.default._schema) == \
        "ncclrt::reduce_scatter(Tensor input, int dim, int world_size, str comm) -> Tensor"
    for name in ops.OPS:
        schema = ops.overload(name)._schema
        mutated = [a.name for a in schema.arguments if a.alias_info and a.alias_info.is_write]
        if name.endswith("_") or name.endswith("_into"):  # in place / into a given output
            assert mutated == [schema.arguments[0].name] and not schema.returns, name
        else:
            assert mutated == [] and not schema.is_mutable, name
        assert any(a.name == "comm" and str(a.type) == "str" for a in schema.arguments), name


@pytest.mark.parametrize("case", range(len(op_cases(x46()))))
def test_opcheck(sim, case):
    name, args = op_cases(x46())[case]
    torch.library.opcheck(ops.overload(name), args)


@pytest.mark.parametrize("name,args", [("all_reduce", ("sim",)),
                                       ("all_reduce.redop", ("sim", "avg")),
                                       ("all_gather", (1, W, "sim")),
                                       ("reduce_scatter", (0, W, "sim")),
                                       ("reduce_scatter.redop", (0, W, "sim", "avg"))])
def test_opcheck_with_gradients(sim, name, args):
    x = torch.randn(4, 6, requires_grad=True)
    torch.library.opcheck(ops.overload(name), (x,) + args)


def test_fakes_give_symbolic_shapes(sim):
    from torch.fx.experimental.proxy_tensor import make_fx

    def f(x):
        return (ns.all_gather(x, 1, W, "sim"), ns.reduce_scatter(x, 0, W, "sim"),
                ns.all_reduce(x, "sim"), ns.recv(x, 0, "sim"))

    gm = make_fx(f, tracing_mode="symbolic")(torch.empty(4, 6))
    out = [n for n in gm.graph.nodes if n.op == "output"][0].args[0]
    shapes = [tuple(str(s).replace("(", "").replace(")", "") for s in o.meta["val"].shape)
              for o in out]
    s0, s1 = shapes[2]  # all_reduce keeps the input's symbols
    assert s0 != "4" and s1 != "6", shapes  # symbolic, not the example's sizes
    assert shapes == [(s0, f"2*{s1}"), (f"{s0}//2", s1), (s0, s1), (s0, s1)], shapes
    assert all(o.meta["val"].is_contiguous() for o in out)


def test_values(sim):
    x = x46()
    torch.testing.assert_close(ns.all_reduce(x, "sim"), x * W)
    torch.testing.assert_close(ns.all_reduce.redop(x, "sim", "max"), x)
    torch.testing.assert_close(ns.all_reduce(x, "sim", "max"), x)  # the packet finds .redop
    for dim in (0, 1, -1):
        got = ns.all_gather(x, dim, W, "sim")
        torch.testing.assert_close(got, torch.cat([x] * W, dim))
        assert got.is_contiguous()
    rank = sim.rank
    torch.testing.assert_close(ns.reduce_scatter(x, 0, W, "sim"), x[2 * rank:2 * rank + 2] * W)
    got = ns.reduce_scatter(x, 1, W, "sim")
    torch.testing.assert_close(got, x[:, 3 * rank:3 * rank + 3] * W)
    assert got.is_contiguous()
    y = x.clone()
    ns.all_reduce_(y, "sim")
    torch.testing.assert_close(y, x * W)
    out = torch.empty(8, 6)
    ns.all_gather_into(out, x, "sim")
    torch.testing.assert_close(out, torch.cat([x, x]))
    torch.testing.assert_close(ns.recv(x, 0, "sim"), torch.full((4, 6), 1.0))
    b = ns.broadcast(x, 0, "sim")
    torch.testing.assert_close(b, x)
    assert b.data_ptr() != x.data_ptr()


# ---- what reaches NCCL ----------------------------------------------------------------------

F32 = int(ncclrt.DataType.FLOAT32)
BF16 = int(ncclrt.DataType.BFLOAT16)


def test_what_reaches_nccl(rec):
    recorder, comm = rec
    x = torch.ones(4, 6)
    y = ns.all_reduce(x, "rec")
    g = ns.all_gather(x.to(torch.bfloat16), 0, 4, "rec")
    s = ns.reduce_scatter.redop(x, 0, 4, "rec", "max")
    ns.all_reduce_(x, "rec", "avg")
    ns.send(x, 3, "rec")
    r = [(c["fn"], c["send"], c["recv"], c["count"], c["type"], c["op"], c["root"])
         for c in recorder.records()]
    assert r[0] == ("ncclAllReduce", x.data_ptr(), y.data_ptr(), 24, F32, 0, -1)
    assert r[1][0] == "ncclAllGather" and r[1][2] == g.data_ptr() and r[1][3:5] == (24, BF16)
    assert g.shape == (16, 6)
    assert r[2] == ("ncclReduceScatter", x.data_ptr(), s.data_ptr(), 6, F32,
                    int(ncclrt.ReduceOp.MAX), -1)
    assert r[3] == ("ncclAllReduce", x.data_ptr(), x.data_ptr(), 24, F32,
                    int(ncclrt.ReduceOp.AVG), -1)
    assert r[4][0] == "ncclSend" and r[4][1] == x.data_ptr() and r[4][6] == 3


def test_bad_arguments_reach_nccl_zero_times(rec):
    recorder, comm = rec
    x = torch.ones(4, 6)
    cases = [
        (lambda: ns.all_reduce(x, "nobody"), ["no communicator is registered as 'nobody'",
                                              "'rec'", "register_communicator"]),
        (lambda: ns.all_reduce.redop(x, "rec", "median"), ["unknown reduction 'median'", "sum"]),
        (lambda: ns.all_reduce_(x, "rec", "median"), ["unknown reduction 'median'", "sum"]),
        (lambda: ns.all_gather(x, 2, 4, "rec"), ["dim 2 is out of range", "2 dimension"]),
        (lambda: ns.all_gather(x, 0, 0, "rec"), ["world_size must be at least 1"]),
        (lambda: ns.reduce_scatter(x, 1, 4, "rec"), ["6 elements", "multiple of world_size=4"]),
    ]
    for call, words in cases:
        with pytest.raises(ncclrt.UsageError) as e:
            call()
        for w in words:
            assert w in str(e.value), (w, str(e.value))
    assert recorder.records() == []


def test_world_size_that_is_not_the_communicator_s(sim):
    x = torch.ones(4, 6)
    with pytest.raises(ncclrt.UsageError, match="world_size=4 but communicator 'sim' has 2 ranks"):
        ns.all_gather(x, 0, 4, "sim")
    with pytest.raises(ncclrt.UsageError, match="world_size=4 but communicator 'sim' has 2 ranks"):
        ns.reduce_scatter(x, 0, 4, "sim")
    assert sim.calls == ["all_gather", "reduce_scatter"]  # refused as the extension refuses


# ---- the registry ---------------------------------------------------------------------------

def test_registry(sim):
    other = SimComm(W, 0)
    assert ops.communicator("sim") is sim and "sim" in ops.communicators()
    assert ops.register_communicator("sim", sim) == "sim"  # the same one again: fine
    with pytest.raises(ncclrt.UsageError, match="'sim' names another communicator already"):
        ops.register_communicator("sim", other)
    ops.register_communicator("sim", other, replace=True)
    assert ops.communicator("sim") is other
    ops.register_communicator("sim", sim, replace=True)
    for bad in ("", None, 3):
        with pytest.raises(ncclrt.UsageError, match="non-empty string"):
            ops.register_communicator(bad, sim)
    with pytest.raises(ncclrt.UsageError, match="no communicator is registered as 'gone'"):
        ops.unregister_communicator("gone")
    with pytest.raises(ncclrt.UsageError, match="no communicator is registered as 'gone'"):
        ops.communicator("gone")


def fake_pynccl(comm, name=None):
    """The vLLM class as its __init__ leaves it (that needs a GPU), around `comm`."""
    from ncclrt.torch import PyNcclCommunicator
    p = PyNcclCommunicator.__new__(PyNcclCommunicator)
    for k, v in dict(rank=comm.rank, world_size=comm.size, disabled=False, comm=comm,
                     unique_id=ncclrt.UniqueId(bytes(range(128))), _op_name=None).items():
        setattr(p, k, v)
    if name:
        ops.register_communicator(name, p)
    return p


def test_the_vllm_class_names_itself_weakly():
    p = fake_pynccl(SimComm(W, 0))
    name = ops.name_of(p)
    assert name.startswith("pynccl-") and len(name) == len("pynccl-") + 16
    other = fake_pynccl(SimComm(W, 1))  # another rank of it, in this process
    assert ops.name_of(other) == name + "-2"  # the same name on every rank, where each has one
    assert ops.communicator(name) is p.comm and ops.communicator(name + "-2") is other.comm
    del other
    torch.testing.assert_close(ns.all_reduce(torch.ones(3), name), torch.full((3,), 2.0))
    del p
    gc.collect()
    assert name not in ops.communicators()  # the registry did not keep it alive


# ---- torch.compile --------------------------------------------------------------------------

H, F = 8, 16


class TPBlock(torch.nn.Module):
    """Column-parallel linear, GELU, row-parallel linear, then the collective."""

    def __init__(self, variant, comm="sim"):
        super().__init__()
        self.variant, self.comm = variant, comm
        self.up = torch.nn.Linear(H, F // W)
        # all_gather: the activations gathered along the features, then a replicated linear
        self.down = torch.nn.Linear(F if variant == "all_gather" else F // W, H, bias=False)

    def forward(self, x):
        h = torch.nn.functional.gelu(self.up(x))
        if self.variant == "all_gather":
            return self.down(torch.ops.ncclrt.all_gather(h, -1, W, self.comm))
        y = self.down(h)
        if self.variant == "reduce_scatter":  # the sequence split across ranks
            return torch.ops.ncclrt.reduce_scatter(y, 0, W, self.comm)
        return torch.ops.ncclrt.all_reduce(y, self.comm)


@pytest.mark.parametrize("variant", ["all_reduce", "all_gather", "reduce_scatter"])
def test_tp_block_compiles_whole_and_matches_eager(sim, variant):
    torch.manual_seed(0)
    m = TPBlock(variant)
    x = torch.randn(4, H, requires_grad=True)
    explained = torch._dynamo.explain(m)(x)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0)
    torch._dynamo.reset()
    compiled = torch.compile(m, fullgraph=True, backend="aot_eager")
    eager, got = m(x), compiled(x)
    torch.testing.assert_close(got, eager)
    params = [x] + list(m.parameters())
    torch.testing.assert_close(torch.autograd.grad(got.square().sum(), params),
                               torch.autograd.grad(eager.square().sum(), params))
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), m(x))


def test_recompiles_for_a_new_shape_with_symbolic_sizes(sim):
    graphs = []

    def backend(gm, inputs):
        graphs.append([type(i).__name__ for i in inputs])
        return gm.forward

    torch._dynamo.reset()
    m = TPBlock("all_gather")
    compiled = torch.compile(m, fullgraph=True, backend=backend)
    for rows in (4, 6, 8, 4):
        x = torch.randn(rows, H)
        torch.testing.assert_close(compiled(x), m(x))
    # static for 4 rows, then one graph for every other row count: its size an input (a symbol)
    assert len(graphs) == 2, graphs
    assert "SymInt" not in graphs[0] and "SymInt" in graphs[1], graphs


def test_gradients_are_torch_distributed_nn_s(sim):
    x = torch.randn(4, 6, requires_grad=True)
    g = torch.randn(4, 6)
    (gx,) = torch.autograd.grad(ns.all_reduce(x, "sim"), x, g)
    torch.testing.assert_close(gx, g * W)  # all_reduce of the gradient
    (gx,) = torch.autograd.grad(ns.all_reduce.redop(x, "sim", "avg"), x, g)
    torch.testing.assert_close(gx, g)
    gg = torch.randn(4, 12)
    (gx,) = torch.autograd.grad(ns.all_gather(x, 1, W, "sim"), x, gg)
    torch.testing.assert_close(gx, gg[:, 6 * sim.rank:6 * sim.rank + 6] * W)  # reduce_scatter
    gs = torch.randn(2, 6)
    (gx,) = torch.autograd.grad(ns.reduce_scatter(x, 0, W, "sim"), x, gs)
    torch.testing.assert_close(gx, torch.cat([gs, gs]))  # all_gather
    with pytest.raises(ncclrt.UsageError, match="no gradient for op='max'"):
        ns.all_reduce.redop(x, "sim", "max").sum().backward()
    y = ns.all_reduce(x.detach(), "sim")
    assert not y.requires_grad


def test_collectives_survive_dead_code_elimination(sim):
    def f(x):
        ns.all_reduce(x, "sim")  # result unused: every rank must still take part
        ns.broadcast(x, 0, "sim")
        return x + 1

    torch._dynamo.reset()
    sim.calls.clear()
    torch.compile(f, fullgraph=True, backend="aot_eager")(torch.ones(4))
    assert sim.calls == ["all_reduce", ("broadcast", 0)]


def test_send_and_recv_keep_program_order(sim):
    from torch._functorch.aot_autograd import aot_function

    def exchange(x, y):  # rank 0 of a pipeline pair: send first, then receive
        ns.send(x * 2, 1, "sim")
        got = ns.recv(y, 1, "sim")
        ns.send(got + 1, 1, "sim")
        return got

    graphs = []

    def keep(gm, inputs):
        graphs.append(gm)
        return gm

    aot_function(exchange, fw_compiler=keep)(torch.ones(3), torch.ones(3))
    code = graphs[0].code
    assert "with_effects" in code  # ordered by effect tokens, not left to the scheduler
    order = [n.args[1].__name__ for n in graphs[0].graph.nodes
             if n.op == "call_function" and "with_effects" in str(n.target)]
    assert order == ["send.default", "recv.default", "send.default"], order
    torch._dynamo.reset()
    sim.calls.clear()
    torch.compile(exchange, fullgraph=True, backend="aot_eager")(torch.ones(3), torch.ones(3))
    assert sim.calls == [("send", 1), ("recv", 1), ("send", 1)]


def test_in_place_forms_mutate_their_argument_when_compiled(sim):
    def f(x, out):
        ns.all_reduce_(x, "sim")
        ns.all_gather_into(out, x, "sim")
        return x.sum()

    torch._dynamo.reset()
    x, out = torch.ones(4, 6), torch.zeros(8, 6)
    torch.compile(f, fullgraph=True, backend="aot_eager")(x, out)
    torch.testing.assert_close(x, torch.full((4, 6), 2.0))
    torch.testing.assert_close(out, torch.full((8, 6), 2.0))


# ---- the vLLM class: code written for it compiles unchanged ---------------------------------

def every_method(p, x):
    from torch.distributed import ReduceOp
    y = p.all_reduce(x * 2)
    z = torch.empty(4, 6)
    p.all_reduce(y, z, op=ReduceOp.MAX)
    p.all_reduce(z, z)
    g = torch.empty(8, 6)
    p.all_gather(g, z)
    r = torch.empty(2, 6)
    p.reduce_scatter(r, x)
    b = x.clone()
    p.broadcast(b, 1)
    p.send(b, 1)
    q = torch.empty(4, 6)
    p.recv(q, 1)
    gv = torch.empty(8, 6)
    p.all_gatherv(gv, z, [4, 4])
    rv = torch.empty(4, 6)
    p.reduce_scatterv(rv, g, [4, 4])
    return y, z, g, r, b, q, gv, rv


def test_vllm_class_compiles_without_a_break():
    sim = SimComm(W, 0)
    p = fake_pynccl(sim, "cls")
    try:
        x = x46()
        explained = torch._dynamo.explain(every_method)(p, x)
        assert (explained.graph_count, explained.graph_break_count) == (1, 0), \
            explained.break_reasons
        sim.calls.clear()
        eager = every_method(p, x)
        eager_calls = list(sim.calls)
        sim.calls.clear()
        torch._dynamo.reset()
        got = torch.compile(every_method, fullgraph=True, backend="aot_eager")(p, x)
        assert sim.calls == eager_calls
        for a, b in zip(got, eager):
            torch.testing.assert_close(a, b)
        assert p.all_reduce(x) is not None and p._op_name == "cls"
    finally:
        ops.unregister_communicator("cls")


def test_vllm_class_inside_compile_refuses_a_stream_and_an_unnamed_communicator():
    p = fake_pynccl(SimComm(W, 0), "cls")
    try:
        with pytest.raises(Exception, match="runs on torch's current stream"):
            torch._dynamo.reset()
            torch.compile(lambda x: p.all_reduce(x, stream=7), fullgraph=True,
                          backend="eager")(torch.ones(2))
    finally:
        ops.unregister_communicator("cls")
    q = fake_pynccl(SimComm(W, 0))  # no name: made without __init__
    with pytest.raises(Exception, match="register_communicator"):
        torch._dynamo.reset()
        torch.compile(lambda x: q.all_reduce(x), fullgraph=True, backend="eager")(torch.ones(2))


# ---- the flight recorder --------------------------------------------------------------------

def test_flight_recorder_records_each_run_of_a_compiled_graph(rec):
    recorder, comm = rec

    def step(x):
        y = ns.all_reduce(x * 2, "rec")
        return ns.all_gather(y, 0, 4, "rec")

    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    x = torch.ones(5)
    before = len(comm.trace())
    for i in range(3):
        with comm.trace_label(f"step {i}"):
            compiled(x)
    entries = comm.trace()[before:]
    assert [(e["op"], e["count"], e["label"]) for e in entries] == [
        (op, 5, f"step {i}") for i in range(3) for op in ("all_reduce", "all_gather")]
    assert [e["seq"] for e in entries] == list(range(entries[0]["seq"], entries[0]["seq"] + 6))


# ---- torch too old --------------------------------------------------------------------------

def test_an_older_torch_gets_a_clear_error_and_nothing_else_breaks():
    code = ("import torch\ntorch.__version__ = '2.7.1'\n"
            "import ncclrt, ncclrt.torch\n"
            "assert ncclrt.torch._ops is None\n"
            "try:\n    import ncclrt.ops\nexcept ncclrt.UnsupportedError as e:\n    print(e)\n")
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert "needs torch >= 2.8; this is torch 2.7.1" in r.stdout
    assert "PyNcclCommunicator and the rest of ncclrt work without it" in r.stdout
    # and where torch lacks what the op path uses (the test suite's stand-in torch)
    code = (f"import sys\nsys.path.insert(0, {os.path.join(HERE, 'fake_torch')!r})\n"
            "import ncclrt.torch\nassert ncclrt.torch._ops is None\n"
            "assert ncclrt.torch._compiling() is False\nprint('ok')\n")
    r = run_python(code)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
