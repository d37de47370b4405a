"""Provenance: where the values in a scope come from (random generator, dataset, constant, module output)."""

from __future__ import annotations

import ast
import builtins
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from trainaudit.evidence.index import (
    ClassInfo,
    FunctionInfo,
    ProjectIndex,
    scope_body,
    scope_statements,
    walk_scope,
)
from trainaudit.evidence.source import NODE_FIELDS, SourceFile, walk
from trainaudit.spec import Spec


class Kind(str, enum.Enum):
    RANDOM = "random"  # a random generator call
    DATA = "data"  # a dataset, loader, file or the declared data source
    CONST = "constant"  # zeros/ones/empty/eye, a fill with a literal value, or a literal tensor
    OUTPUT = "module-output"  # what a module call returned
    PARAM = "param"  # a function parameter, filled in from call sites
    INSTANCE = "instance"  # an object of a known class (models, optimizers, datasets)


# Lightning's training hook and the module hook whose loader gives it its first argument, the batch. Only the
# training batch: synthetic-data judges it; evaluation batches stay the framework's data, or each random one would
# also be reported by dummy-input as a stand-in for an input.
STEP_LOADERS = {"training_step": "train_dataloader"}
BUILTINS = frozenset(dir(builtins))  # names a scope can use without binding or importing them
VALUE_KINDS = frozenset({Kind.RANDOM, Kind.DATA, Kind.CONST, Kind.OUTPUT, Kind.PARAM})
_SELECTED = frozenset({Kind.RANDOM, Kind.DATA, Kind.OUTPUT, Kind.PARAM})  # values an index selects among


@dataclass(frozen=True)
class Origin:
    kind: Kind
    what: str  # factory or class dotted name, or "function:param"
    path: str = ""
    line: int = 0
    via: str = ""  # the project helper it came through, if any


def origin_order(o: Origin) -> tuple[str, int, str, str]:
    """A total order on origins, for reports that do not change from run to run (sets iterate in hash order)."""
    return o.path, o.line, o.what, o.via


Prov = frozenset[Origin]
EMPTY: Prov = frozenset()

_NP_RANDOM = frozenset(
    "rand randn random random_sample ranf sample normal uniform randint standard_normal binomial poisson "
    "beta gamma exponential multivariate_normal lognormal laplace logistic integers dirichlet standard_cauchy "
    "standard_t chisquare triangular vonmises weibull geometric pareto power rayleigh standard_exponential "
    "standard_gamma wald bytes".split()
)
RANDOM_FACTORIES = frozenset(
    {f"torch.{n}" for n in "randn rand randint randn_like rand_like randint_like normal".split()}
    | {f"numpy.random.{n}" for n in _NP_RANDOM}
    | {f"random.{n}" for n in "random gauss uniform randint normalvariate randrange betavariate expovariate "
       "gammavariate lognormvariate triangular vonmisesvariate paretovariate weibullvariate getrandbits".split()}
    # A dataset class made to stand in for one: random images and labels.
    | {"torchvision.datasets.FakeData", "torchvision.datasets.fakedata.FakeData"}
    # scikit-learn's sample generators (sklearn.datasets, 1.x): random points around made-up structure.
    | {f"sklearn.datasets.make_{n}" for n in "biclusters blobs checkerboard circles classification friedman1 "
       "friedman2 friedman3 gaussian_quantiles hastie_10_2 low_rank_matrix moons multilabel_classification "
       "regression s_curve sparse_coded_signal sparse_spd_matrix sparse_uncorrelated spd_matrix swiss_roll".split()}
)
RNG_CONSTRUCTORS = frozenset({"numpy.random.default_rng", "numpy.random.RandomState", "numpy.random.Generator",
                              "random.Random"})
INPLACE_RANDOM = frozenset({"normal_", "uniform_", "random_", "exponential_", "cauchy_", "log_normal_",
                            "geometric_"})
_CONST_NAMES = "zeros ones full empty zeros_like ones_like full_like empty_like eye"
CONST_FACTORIES = frozenset({f"torch.{n}" for n in _CONST_NAMES.split()} | {f"numpy.{n}" for n in _CONST_NAMES.split()})
# Index ranges and grids (position ids, relative-position buckets, coordinate grids) hold no input's values and
# stand in for none: they carry no provenance at all.
INDEX_FACTORIES = frozenset({f"{m}.{n}" for m in ("torch", "numpy") for n in ("arange", "linspace", "logspace")})
# Fills whose value is an argument: `torch.full(shape, n_tokens)` holds that value, a constant only when it is one.
FILLS = frozenset({f"{m}.{n}" for m in ("torch", "numpy") for n in ("full", "full_like")})
LITERAL_TENSOR = frozenset({"torch.tensor", "torch.as_tensor", "torch.Tensor", "torch.FloatTensor",
                            "torch.LongTensor", "numpy.array", "numpy.asarray"})
# Of those, the ones that convert their first argument: a constant only when that argument is written out.
CONVERTERS = frozenset({"torch.tensor", "torch.as_tensor", "numpy.array", "numpy.asarray"})
DATA_SOURCES = (
    "torch.load", "numpy.load", "numpy.loadtxt", "numpy.genfromtxt", "numpy.fromfile", "numpy.memmap",
    "pandas.read_", "open", "builtins.open", "io.open", "json.load", "pickle.load", "PIL.Image.open",
    "imageio.", "cv2.imread", "h5py.File", "torchvision.datasets.", "torchvision.io.", "torchaudio.load",
    "torchaudio.datasets.", "torchtext.datasets.", "datasets.load_dataset", "datasets.load_from_disk",
    "datasets.Dataset.from_", "torch_geometric.datasets.", "ogb.", "sklearn.datasets.load_",
    "sklearn.datasets.fetch_", "tensorflow_datasets.", "tensorflow.keras.datasets.", "keras.datasets.",
    "scipy.io.loadmat", "nibabel.load", "lmdb.open", "webdataset.", "zarr.open", "xarray.open_",
    "netCDF4.Dataset", "glob.glob", "os.listdir", "os.scandir", "safetensors.torch.load_file",
    "nilearn.datasets.", "torchvision.transforms.functional.to_tensor", "torch.utils.data.default_collate",
    # Reinforcement learning: the environment is the data source; what `env.reset()`/`env.step()` return is data.
    "gym.make", "gymnasium.make", "gym.vector.", "gymnasium.vector.", "envpool.make", "dm_control.suite.load",
    "procgen.ProcgenEnv", "pettingzoo.",
)
LOADERS = frozenset({
    "torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader", "torch.utils.data.TensorDataset",
    "torch.utils.data.Subset", "torch.utils.data.ConcatDataset", "torch.utils.data.random_split",
    "torch_geometric.loader.DataLoader", "torch_geometric.data.DataLoader", "torch_geometric.loader.NeighborLoader",
    # Hugging Face datasets built from values in memory hold those values (`from_csv`, `load_dataset` read files).
    "datasets.Dataset.from_dict", "datasets.Dataset.from_list", "datasets.Dataset.from_pandas",
    "datasets.Dataset.from_generator",
})
CONTAINERS = frozenset({"list", "tuple", "iter", "next", "zip", "enumerate", "itertools.chain", "filter", "map",
                        "sorted", "reversed", "dict", "set", "itertools.cycle", "tqdm.tqdm", "tqdm.auto.tqdm",
                        "tqdm", "torch.compile", "torch.nn.DataParallel", "torch.nn.parallel.DistributedDataParallel",
                        "torch.jit.script", "copy.deepcopy",
                        # Tables hold the columns they are built from: `pd.DataFrame(np.random.randn(n, 4))`.
                        "pandas.DataFrame", "pandas.Series"})
# Methods that return the object itself (or its parameters): an instance stays an instance through them.
KEEP_INSTANCE = frozenset({"to", "cuda", "cpu", "float", "double", "half", "bfloat16", "train", "eval",
                           "parameters", "named_parameters", "children", "modules", "requires_grad_", "apply",
                           "share_memory", "type", "__iter__", "values", "items"})
# torch.nn.Module's public methods other than forward (torch 2.13): calling one (`model.zero_grad()`,
# `model.state_dict()`) does not run the module.
MODULE_METHODS = frozenset({
    "add_module", "apply", "bfloat16", "buffers", "children", "compile", "cpu", "cuda", "double", "eval", "extra_repr",
    "float", "get_buffer", "get_extra_state", "get_parameter", "get_submodule", "half", "ipu", "load_state_dict",
    "modules", "mtia", "named_buffers", "named_children", "named_modules", "named_parameters", "parameters",
    "register_backward_hook", "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook", "register_module", "register_parameter", "register_state_dict_post_hook",
    "register_state_dict_pre_hook", "requires_grad_", "set_extra_state", "set_submodule", "share_memory",
    "state_dict", "to", "to_empty", "train", "type", "xpu", "zero_grad",
})
# Library objects whose call backpropagates the loss and steps the optimizer: `loss_scaler(loss, optimizer)`.
LOSS_SCALERS = frozenset({"timm.utils.NativeScaler", "timm.utils.ApexScaler", "timm.utils.cuda.NativeScaler",
                          "timm.utils.cuda.ApexScaler"})
LIGHTNING_BATCH_HOOKS = frozenset({"training_step", "validation_step", "test_step", "predict_step",
                                   "compute_loss", "prediction_step", "shared_step", "_shared_step", "step"})


# Summaries (returns, call-site parameters, self attributes) nested deeper than this are cut short (EMPTY). Each
# level asks another function's summary: with `self.method()` calls followed, transformers nested summaries and
# scopes 214 deep, past the interpreter's recursion limit (four to five frames a level). Training code nests
# 23 summaries at most (yolov5); transformers nested 58 before those calls were followed.
MAX_NESTED_SUMMARIES = 64
_BINDERS = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor, ast.With, ast.AsyncWith, ast.NamedExpr)


def _is_class_name(dotted: str) -> bool:
    last = dotted.rsplit(".", 1)[-1]
    return last[:1].isupper() and not last.isupper()


class Flow:
    """Flow-insensitive provenance over the project's scopes, with callee summaries and call-site parameters."""

    def __init__(self, index: ProjectIndex, spec: Spec) -> None:
        self.index = index
        self.spec = spec
        self._envs: dict[tuple[str, str], dict[str, Prov]] = {}
        self._returns: dict[str, Prov] = {}
        self._attrs: dict[tuple[str, str], Prov] = {}
        self._params: dict[str, Prov] = {}
        self._busy: set[object] = set()
        self._assigns: dict[int, dict[str, list[ast.Assign | ast.AnnAssign]]] = {}
        self._top: dict[str, frozenset[str]] = {}

    # -- scopes ----------------------------------------------------------------------------
    def env(self, sf: SourceFile, fn: FunctionInfo | None) -> dict[str, Prov]:
        key = (sf.module, fn.qualname if fn else "")
        if key in self._envs:
            return self._envs[key]
        env: dict[str, Prov] = {}
        self._envs[key] = env  # visible while being built, so recursion sees a partial answer
        if fn is not None:
            for p in fn.params:
                if p in ("self", "cls"):
                    continue
                if fn.cls is not None and fn.name in LIGHTNING_BATCH_HOOKS and p in ("batch", "inputs", "data"):
                    # What the module's own loader yields, if it has one (STEP_LOADERS); else the trainer's data
                    own = self.param_values(fn, p) if self.index.method(fn.cls, STEP_LOADERS.get(fn.name, "")) \
                        and not self._fit_gives_data else frozenset()
                    env[p] = own or frozenset({Origin(Kind.DATA, "framework batch", sf.path, fn.node.lineno)})
                else:
                    env[p] = frozenset({Origin(Kind.PARAM, f"{fn.qualname}:{p}")})
        # Every binder but `:=` is a statement: without one in the file, its statements are all there is to read
        # (in the same order as the full walk, at a fraction of its cost).
        nodes = walk_scope(scope_body(sf, fn)) if ":=" in sf.text else scope_statements(scope_body(sf, fn))
        binders = [(n, *_reads_writes(n)) for n in nodes if isinstance(n, _BINDERS)]
        # A few passes reach the fixpoint for loops and late assignments. A binder's value depends only on the
        # names it reads, so a later pass re-evaluates only binders that read a name grown since they last ran:
        # the same result as re-evaluating all of them, at half the cost for straight-line code.
        grown: dict[str, int] = {}  # name -> clock of its last growth
        done = [-1] * len(binders)  # clock of each binder's last evaluation
        clock = 0
        for _ in range(4):
            changed = False
            for i, (node, reads, writes) in enumerate(binders):
                if done[i] >= 0 and not any(grown.get(n, -1) >= done[i] for n in reads):
                    continue
                clock += 1
                done[i] = clock
                before = [len(env[n]) if n in env else -1 for n in writes]
                self._bind_stmt(node, sf, fn, env)
                for n, size in zip(writes, before, strict=True):
                    if (len(env[n]) if n in env else -1) != size:
                        grown[n] = clock
                        changed = True
            if not changed:
                break
        return env

    def _bind_stmt(self, node: ast.AST, sf: SourceFile, fn: FunctionInfo | None, env: dict[str, Prov]) -> None:
        if isinstance(node, ast.Assign):
            value = node.value
            for t in node.targets:
                if (isinstance(t, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List))
                        and len(t.elts) == len(value.elts)):  # a, b = A(), B(): pair them up
                    for te, ve in zip(t.elts, value.elts, strict=True):
                        self._bind(te, self.eval(ve, sf, fn, env), env)
                else:
                    self._bind(t, self.eval(value, sf, fn, env), env)
                self._bind_indexes(t, sf, fn, env)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
            p = self.eval(node.value, sf, fn, env)
            if isinstance(node, ast.AugAssign):
                p = p | self.eval(node.target, sf, fn, env)
            self._bind(node.target, p, env)
            self._bind_indexes(node.target, sf, fn, env)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self._bind(node.target, self.eval(node.iter, sf, fn, env), env)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    self._bind(item.optional_vars, self.eval(item.context_expr, sf, fn, env), env)
        elif isinstance(node, ast.NamedExpr):
            self._bind(node.target, self.eval(node.value, sf, fn, env), env)

    def _bind_indexes(self, target: ast.AST, sf: SourceFile, fn: FunctionInfo | None, env: dict[str, Prov]) -> None:
        """An array written in place at computed positions holds what decides them: a board filled at the moves
        played (`board[move] = player`) is made of the moves, not only of its zeros and the values written."""
        for sub in written_at(target):
            p = frozenset(o for o in self.eval(sub.slice, sf, fn, env) if o.kind in VALUE_KINDS)
            if p:
                self._bind(sub, p, env)

    @staticmethod
    def _bind(target: ast.AST, p: Prov, env: dict[str, Prov]) -> None:
        if isinstance(target, ast.Name):
            env[target.id] = env.get(target.id, EMPTY) | p
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                Flow._bind(elt, p, env)
        elif isinstance(target, ast.Starred):
            Flow._bind(target.value, p, env)
        elif isinstance(target, (ast.Subscript, ast.Attribute)):
            root = target
            while isinstance(root, (ast.Subscript, ast.Attribute)):
                root = root.value
            if isinstance(root, ast.Name) and root.id != "self":
                env[root.id] = env.get(root.id, EMPTY) | frozenset(o for o in p if o.kind in VALUE_KINDS)

    def _not_bound_at_top(self, sf: SourceFile) -> frozenset[str]:
        """Names looked up through imports, definitions and builtins rather than the module's environment: a
        function naming only these (`torch`, `F`, `Net`) needs none, and building one for each file with functions
        cost 4% of an audit of 1,000 training scripts. A module that rebinds such a name (`input = torch.randn(...)`)
        gives it no provenance inside functions."""
        found = self._top.get(sf.path)
        if found is None:
            found = self._top[sf.path] = frozenset(sf.aliases) | {o.name for o in sf.outline} | BUILTINS
        return found

    # -- summaries ---------------------------------------------------------------------------
    def _summary(self, memo: dict, key: object, compute: Callable[[], Prov]) -> Prov:
        """A summary from `memo`, or computed once: EMPTY while it is being computed (recursion sees no answer)
        or when summaries already nest MAX_NESTED_SUMMARIES deep (each nesting summary's key is in _busy)."""
        if key in memo:
            return memo[key]
        if key in self._busy or len(self._busy) >= MAX_NESTED_SUMMARIES:
            return EMPTY
        self._busy.add(key)
        try:
            found = memo[key] = compute()
        finally:  # a rule that fails mid-summary must not leave it busy for the rules after it
            self._busy.discard(key)
        return found

    def returns(self, fn: FunctionInfo) -> Prov:
        """What a function returns or yields, with its parameters left as PARAM origins."""
        return self._summary(self._returns, fn.qualname, lambda: self._returns_of(fn))

    def _returns_of(self, fn: FunctionInfo) -> Prov:
        env = self.env(fn.file, fn)
        out: set[Origin] = set()
        # Yields are expressions, returns statements: a file that never spells `yield` needs no full walk.
        yields = "yield" in fn.file.text
        for node in walk_scope(fn.node.body) if yields else scope_statements(fn.node.body):
            if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom)) and node.value is not None:
                out |= self.eval(node.value, fn.file, fn, env)
        return frozenset(out)

    def self_attr(self, cls: ClassInfo, attr: str) -> Prov:
        """Everything assigned to `self.<attr>` in the class and its project bases."""
        return self._summary(self._attrs, (cls.qualname, attr), lambda: self._self_attr_of(cls, attr))

    def _self_attr_of(self, cls: ClassInfo, attr: str) -> Prov:
        out: set[Origin] = set()
        for c in self.index.mro(cls):
            for m in c.methods.values():
                nodes = self._self_assigns(m).get(attr)
                if nodes:
                    env = self.env(m.file, m)
                    for node in nodes:
                        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                        out |= self.eval(_value_of(attr, targets, node.value), m.file, m, env)  # type: ignore
                        for sub in (s for t in targets for s in written_at(t) if self_attrs_written(s) == [attr]):
                            out |= {o for o in self.eval(sub.slice, m.file, m, env) if o.kind in VALUE_KINDS}
        return frozenset(out)

    def _self_assigns(self, m: FunctionInfo) -> dict[str, list[ast.Assign | ast.AnnAssign]]:
        """`self.<attr> = value` statements of a method by attribute, in walk order, one entry per matching
        target (assignments are statements: found without visiting expressions, once per method)."""
        found = self._assigns.get(id(m.node))
        if found is None:
            found = self._assigns[id(m.node)] = {}
            for node in scope_statements(m.node.body):
                targets = node.targets if isinstance(node, ast.Assign) else (
                    [node.target] if isinstance(node, ast.AnnAssign) and node.value else [])
                for t in targets:
                    for attr in self_attrs_written(t):
                        found.setdefault(attr, []).append(node)  # type: ignore[arg-type]
        return found

    def submodules(self, cls: ClassInfo) -> dict[str, list[str]]:
        """Module-valued attributes set on `self` (attribute -> module classes), through project bases."""
        out: dict[str, list[str]] = {}
        for c in self.index.mro(cls):
            for m in c.methods.values():
                for node in scope_statements(m.node.body):
                    if not isinstance(node, ast.Assign):
                        continue
                    for t in node.targets:
                        for attr in self_attrs_written(t):  # `self.G, self.D = Generator(), Discriminator()` too
                            mods = [x for x in self._instances(self.self_attr(c, attr)) if self.is_module_class(x)]
                            if mods:
                                out.setdefault(attr, sorted(set(out.get(attr, [])) | set(mods)))
        return out

    def param_values(self, fn: FunctionInfo, name: str) -> Prov:
        """A parameter's provenance gathered from the project's call sites of its function."""
        return self._summary(self._params, f"{fn.qualname}:{name}", lambda: self._param_values_of(fn, name))

    @cached_property
    def _fit_gives_data(self) -> bool:
        """Whether some `fit` call hands the trainer its data (`trainer.fit(model, datamodule=dm)`, `fit(model,
        loader)`), which Lightning uses in place of the module's own `train_dataloader()`."""
        for sf in (f for f in self.index.files if "fit" in f.words):
            assert sf.tree is not None
            for n in walk(sf.tree):
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "fit" and (
                        len(n.args) >= 2 or any(k.arg in ("datamodule", "train_dataloaders", "train_dataloader")
                                                for k in n.keywords)):
                    return True
        return False

    def _param_values_of(self, fn: FunctionInfo, name: str) -> Prov:
        params = [p for p in fn.params if p not in ("self", "cls")] if fn.cls else fn.params
        pos = params.index(name) if name in params else -1
        out: set[Origin] = set()
        loader = STEP_LOADERS.get(fn.name) if fn.cls is not None and pos == 0 else None
        source = self.index.method(fn.cls, loader) if loader else None  # type: ignore[arg-type]
        if source is not None and self.index.is_module(fn.cls):  # type: ignore[arg-type]
            # Lightning calls the step with the batches of the module's own loader (`self.train_dataloader()`)
            out |= self.concrete(self.returns(source))
        for site in self.index.sites_of(fn):
            arg = arg_for(site.node, name, pos + 1 if pos >= 0 and self.index.passes_self(site, fn) else pos)
            if arg is not None:
                env = self.env(site.file, site.caller)
                out |= self.concrete(self.eval(arg, site.file, site.caller, env))
        return frozenset(out)

    def concrete(self, p: Prov, depth: int = 0) -> Prov:
        """Replace PARAM origins by what the callers pass."""
        if depth > 4 or not any(o.kind is Kind.PARAM for o in p):
            return p
        out = {o for o in p if o.kind is not Kind.PARAM}
        for o in p:
            if o.kind is Kind.PARAM:
                fq, _, name = o.what.rpartition(":")
                fn = self.index.functions.get(fq)
                if fn is not None:
                    out |= self.concrete(self.param_values(fn, name), depth + 1)
        return frozenset(out)

    def passed(self, p: Prov) -> Prov:
        """`concrete` for values: each parameter replaced by the values its callers pass, or kept (unknown, not
        nothing) where they pass none that `concrete` can see, as through `game.play(move)` on a local object."""
        out = {o for o in p if o.kind is not Kind.PARAM}
        for o in p:
            if o.kind is Kind.PARAM:
                out |= {x for x in self.concrete(frozenset({o})) if x.kind in VALUE_KINDS} or {o}
        return frozenset(out)

    def dataset_prov(self, cls: ClassInfo, sf: SourceFile, line: int) -> Prov:
        """What a dataset class yields; a dataset whose items we cannot trace counts as data."""
        if self.is_declared_data(cls.name):
            return frozenset({Origin(Kind.DATA, f"declared data source {cls.name}", sf.path, line)})
        out: set[Origin] = set()
        for name in ("__getitem__", "__iter__", "__next__", "train_dataloader", "get", "generate", "sample"):
            m = self.index.method(cls, name)
            if m is not None:
                out |= {o for o in self.returns(m) if o.kind in (Kind.RANDOM, Kind.DATA, Kind.CONST)}
        if not any(o.kind in (Kind.RANDOM, Kind.DATA) for o in out):
            out.add(Origin(Kind.DATA, cls.qualname, sf.path, line))
        return frozenset(out)

    def is_declared_data(self, name: str) -> bool:
        return bool(self.spec.data_name) and name == self.spec.data_name

    # -- expressions ---------------------------------------------------------------------------
    def eval(self, expr: ast.AST | None, sf: SourceFile, fn: FunctionInfo | None, env: dict[str, Prov]) -> Prov:
        if expr is None or isinstance(expr, (ast.Constant, ast.Lambda)):
            return EMPTY
        if isinstance(expr, ast.Name):
            if expr.id == "self" and fn is not None and fn.cls is not None:
                return frozenset({Origin(Kind.INSTANCE, fn.cls.qualname, sf.path, expr.lineno)})
            found = env.get(expr.id)
            if found is None and fn is not None and expr.id not in self._not_bound_at_top(sf):
                found = self.env(sf, None).get(expr.id)  # a name the function does not bind: the module's global
            return found or EMPTY
        if isinstance(expr, ast.Attribute):
            return self._attribute(expr, sf, fn, env)
        if isinstance(expr, ast.Call):
            return self._call(expr, sf, fn, env)
        if isinstance(expr, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            inner = dict(env)
            for gen in expr.generators:
                self._bind(gen.target, self.eval(gen.iter, sf, fn, inner), inner)
            parts = [expr.key, expr.value] if isinstance(expr, ast.DictComp) else [expr.elt]
            return frozenset().union(*(self.eval(p, sf, fn, inner) for p in parts))
        if isinstance(expr, ast.IfExp):  # the value is one branch's; the test only chooses between them
            return self.eval(expr.body, sf, fn, env) | self.eval(expr.orelse, sf, fn, env)
        if isinstance(expr, ast.Subscript):
            # Indexing selects values, it does not make them: real data at random indices (a replay buffer's
            # sample, a shuffled batch) is real data. A table without real values (a noise schedule indexed by
            # random timesteps) gives values as random as the index.
            base = self.eval(expr.value, sf, fn, env)
            if any(o.kind in _SELECTED for o in base):
                return base
            return base | frozenset(o for o in self.eval(expr.slice, sf, fn, env) if o.kind in VALUE_KINDS)
        # Containers keep the objects they hold, and so does `+` on them: `list(enc.parameters()) +
        # list(head.parameters())` hands both modules to an optimizer.
        keep_instances = isinstance(expr, (ast.Tuple, ast.List, ast.Dict, ast.Starred)) or (
            isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add))
        out: set[Origin] = set()
        for name in NODE_FIELDS.get(expr.__class__, expr._fields):  # ast.iter_child_nodes, without generators
            v = getattr(expr, name, None)
            for child in v if v.__class__ is list else (v,):
                if isinstance(child, ast.expr):
                    p = self.eval(child, sf, fn, env)
                    out |= p if keep_instances else {o for o in p if o.kind in VALUE_KINDS}
        return frozenset(out)

    def _attribute(self, expr: ast.Attribute, sf: SourceFile, fn: FunctionInfo | None,
                   env: dict[str, Prov]) -> Prov:
        base = self.eval(expr.value, sf, fn, env)
        if not base and isinstance(expr.value, (ast.Name, ast.Attribute)) and root_name(expr) not in env:
            return EMPTY  # a module attribute such as torch.float32
        out = {o for o in base if o.kind is not Kind.INSTANCE}
        for o in base:
            if o.kind is Kind.INSTANCE and o.what in self.index.classes:
                out |= self.self_attr(self.index.classes[o.what], expr.attr)
        return frozenset(out)

    def _args(self, call: ast.Call, sf: SourceFile, fn: FunctionInfo | None, env: dict[str, Prov]) -> Prov:
        out: set[Origin] = set()
        for a in call.args:
            out |= self.eval(a, sf, fn, env)
        for k in call.keywords:
            out |= self.eval(k.value, sf, fn, env)
        return frozenset(out)

    def _call(self, call: ast.Call, sf: SourceFile, fn: FunctionInfo | None, env: dict[str, Prov]) -> Prov:
        func = call.func
        here = (sf.path, call.lineno)
        root = root_name(func)
        if _is_dotted(func) and root not in env and root != "self":  # a name: resolved through imports
            # Only a name spelled like a project definition (or an alias to one) can resolve to one (see
            # ProjectIndex.def_spellings); any other resolves to its dotted external name.
            last = func.attr if isinstance(func, ast.Attribute) else func.id  # type: ignore[attr-defined]
            target = self.index.resolve(sf, func) if last in self.index.def_spellings else sf.resolve(func)
            # A project class or function makes its own provenance: the arguments' only count through _apply.
            if isinstance(target, ClassInfo):
                return self._instantiate(target, sf, call)
            if isinstance(target, FunctionInfo):
                if self.is_declared_data(target.name):
                    return frozenset({Origin(Kind.DATA, f"declared data source {target.name}", *here)})
                return self._apply(target, call, sf, fn, env)
            if target in INDEX_FACTORIES:
                return EMPTY
            if target in FILLS or target in CONVERTERS:
                given = arg_for(call, "fill_value", 1) if target in FILLS else arg_for(call, "data", 0)
                if given is not None and not is_literal(given):  # a value computed elsewhere, not a constant
                    return frozenset(o for o in self.eval(given, sf, fn, env) if o.kind in VALUE_KINDS)
            args = self._args(call, sf, fn, env)
            values = frozenset(o for o in args if o.kind in VALUE_KINDS)
            return self.external(target, args, values, here) if isinstance(target, str) else values
        args = self._args(call, sf, fn, env)
        values = frozenset(o for o in args if o.kind in VALUE_KINDS)
        # A call on a value: a module held in an attribute, a method of a known object, or a callable value.
        if isinstance(func, ast.Attribute):
            receiver = self.eval(func.value, sf, fn, env)
            if not self._has_method(receiver, func.attr):
                held = self._attribute(func, sf, fn, env)
                if self._instances(held):
                    return self._call_value(held, values, here)
            return self._method(func.attr, receiver, call, sf, fn, env, args, values)
        return self._call_value(self.eval(func, sf, fn, env), values, here)

    def _call_value(self, callee: Prov, values: Prov, here: tuple[str, int]) -> Prov:
        mods = [c for c in self._instances(callee) if self.is_module_class(c)]
        if mods:
            return frozenset({Origin(Kind.OUTPUT, mods[0], *here)}) | values
        return values | frozenset(o for o in callee if o.kind in VALUE_KINDS)

    def _has_method(self, receiver: Prov, name: str) -> bool:
        if name not in self.index.method_names:
            return False  # no project class has it: skip resolving the receiver through call sites
        for cname in self._instances(receiver):
            cls = self.index.classes.get(cname)
            if cls is not None and self.index.method(cls, name) is not None:
                return True
        return False

    def _instances(self, p: Prov) -> list[str]:
        return sorted({o.what for o in self.concrete(p) if o.kind is Kind.INSTANCE})

    def is_module_class(self, dotted: str) -> bool:
        cls = self.index.classes.get(dotted)
        if cls is not None:
            return self.index.is_module(cls)
        return dotted.startswith(("torch.nn.", "torch_geometric.nn.", "transformers.")) and _is_class_name(dotted) or (
            is_model_factory(dotted))

    def _method(self, name: str, receiver: Prov, call: ast.Call, sf: SourceFile, fn: FunctionInfo | None,
                env: dict[str, Prov], args: Prov, values: Prov) -> Prov:
        here = (sf.path, call.lineno)
        rvalues = frozenset(o for o in receiver if o.kind in VALUE_KINDS)
        if name in INPLACE_RANDOM:
            return frozenset({Origin(Kind.RANDOM, f"Tensor.{name}", *here)})
        if name in KEEP_INSTANCE:
            return receiver | values
        for cname in self._instances(receiver):
            if cname in RNG_CONSTRUCTORS and name in _NP_RANDOM | {"gauss", "integers"}:
                return frozenset({Origin(Kind.RANDOM, f"{cname}().{name}", *here)})
            cls = self.index.classes.get(cname)
            if cls is None:
                continue
            if self.is_declared_data(cls.name) or self.index.is_dataset(cls):
                return self.dataset_prov(cls, sf, call.lineno)
            if self.index.is_module(cls):
                return frozenset({Origin(Kind.OUTPUT, cls.qualname, *here)}) | values
            m = self.index.method(cls, name)
            if m is not None:
                return self._apply(m, call, sf, fn, env, bound=True)
        return rvalues | values

    def _instantiate(self, cls: ClassInfo, sf: SourceFile, call: ast.Call) -> Prov:
        inst = frozenset({Origin(Kind.INSTANCE, cls.qualname, sf.path, call.lineno)})
        if self.is_declared_data(cls.name) or self.index.is_dataset(cls):
            return inst | self.dataset_prov(cls, sf, call.lineno)
        return inst

    def _apply(self, target: FunctionInfo, call: ast.Call, sf: SourceFile, fn: FunctionInfo | None,
               env: dict[str, Prov], bound: bool = False) -> Prov:
        """A project function's return summary with its parameters replaced by this call's arguments."""
        summary = self.returns(target)
        params = target.params[1:] if (bound or target.cls) and target.params[:1] in (["self"], ["cls"]) else (
            target.params)
        out: set[Origin] = set()
        for o in summary:
            if o.kind is Kind.PARAM and o.what.startswith(target.qualname + ":"):
                name = o.what.rpartition(":")[2]
                pos = params.index(name) if name in params else -1
                arg = arg_for(call, name, pos)
                if arg is not None:
                    out |= self.eval(arg, sf, fn, env)
            else:
                out.add(o if o.via or o.kind is Kind.INSTANCE else Origin(o.kind, o.what, o.path, o.line,
                                                                         target.qualname))
        return frozenset(out)

    def external(self, dotted: str, args: Prov, values: Prov, here: tuple[str, int]) -> Prov:
        """The provenance of a call to a non-project callable `dotted`, from what its arguments carry."""
        if dotted in RANDOM_FACTORIES:
            return frozenset({Origin(Kind.RANDOM, dotted, *here)})
        if dotted in RNG_CONSTRUCTORS:
            return frozenset({Origin(Kind.INSTANCE, dotted, *here)})
        if dotted in CONST_FACTORIES:
            return frozenset({Origin(Kind.CONST, dotted, *here)})
        if dotted in LITERAL_TENSOR:
            return values if values else frozenset({Origin(Kind.CONST, dotted, *here)})
        if dotted in LOADERS:
            return values if any(o.kind in (Kind.RANDOM, Kind.DATA, Kind.PARAM) for o in values) else frozenset(
                {Origin(Kind.DATA, dotted, *here)})
        if dotted.startswith(DATA_SOURCES) or dotted.split(".")[0] == "open":
            return frozenset({Origin(Kind.DATA, dotted, *here)})
        if dotted in CONTAINERS:
            return args
        if is_model_factory(dotted):
            return frozenset({Origin(Kind.INSTANCE, dotted, *here)})
        if _is_class_name(dotted) and not dotted.startswith("torch.") or dotted.startswith(
                ("torch.nn.", "torch.optim.")) and _is_class_name(dotted):
            return frozenset({Origin(Kind.INSTANCE, dotted, *here)})
        return values


def _reads_writes(node: ast.AST) -> tuple[frozenset[str], tuple[str, ...]]:
    """Names a binder's evaluated expressions mention, and names in its targets (supersets of what
    Flow._bind_stmt reads from and writes to the environment)."""
    if isinstance(node, ast.Assign):
        evaluated, targets = [node.value, *(s.slice for t in node.targets for s in written_at(t))], node.targets
    elif isinstance(node, ast.AugAssign):
        evaluated, targets = [node.value, node.target], [node.target]
    elif isinstance(node, ast.AnnAssign):
        evaluated = [node.value, *(s.slice for s in written_at(node.target))] if node.value is not None else []
        targets = [node.target]
    elif isinstance(node, (ast.For, ast.AsyncFor)):
        evaluated, targets = [node.iter], [node.target]
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        evaluated = [i.context_expr for i in node.items]
        targets = [i.optional_vars for i in node.items if i.optional_vars is not None]
    else:
        assert isinstance(node, ast.NamedExpr)
        evaluated, targets = [node.value], [node.target]
    return frozenset(names_in(evaluated)), tuple(dict.fromkeys(names_in(targets)))


def names_bound(stmt: ast.AST) -> tuple[str, ...]:
    """The names in a binding statement's targets (assignment, loop and with targets, tuple elements included);
    none for any other statement."""
    return _reads_writes(stmt)[1] if isinstance(stmt, _BINDERS) else ()


def names_in(exprs: list[ast.expr]) -> list[str]:
    """Ids of the Name nodes in expressions, in walk order (a bare name, the usual target, is not walked)."""
    return [n.id for e in exprs for n in ((e,) if e.__class__ is ast.Name else walk(e))  # type: ignore[attr-defined]
            if n.__class__ is ast.Name]


# A generator's latent code by its name (`G(z)`, `netG(noise)`, `self.z[i]`, `latent_code`).
LATENT_NAME = re.compile(r"z|z_\w*|\w*(noise|latent)\w*", re.I)


def last_name(node: ast.AST) -> str:
    """The identifier a Name or an Attribute ends in (`x`; `self.opt` -> `opt`), '' for anything else."""
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def root_name(node: ast.AST) -> str | None:
    """The name a chain of attributes, subscripts and calls starts at: `z` for `z.to(device).view(n, -1)`."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _is_dotted(node: ast.AST) -> bool:
    """A plain name or attribute chain (`torch.nn.Linear`), as opposed to an expression's value."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def self_attrs_written(target: ast.AST) -> list[str]:
    """Attributes of `self` an assignment target writes: `self.x = v`, and in place `self.buf[i] = v` (a buffer
    allocated with zeros and filled later holds what it is filled with), through tuple targets."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return [a for elt in target.elts for a in self_attrs_written(elt)]
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
        return [target.attr]
    if isinstance(target, ast.Subscript):
        root = target.value
        while isinstance(root, ast.Subscript):
            root = root.value
        if isinstance(root, ast.Attribute) and isinstance(root.value, ast.Name) and root.value.id == "self":
            return [root.attr]
    return []


def _value_of(attr: str, targets: list[ast.expr], value: ast.expr) -> ast.expr:
    """What an assignment gives `self.<attr>`: its own element when a tuple of targets takes a tuple of values
    (`self.G, self.D = Generator(), Discriminator()`, paired as Flow._bind_stmt pairs names), else the value."""
    if isinstance(value, (ast.Tuple, ast.List)):
        for t in targets:
            if isinstance(t, (ast.Tuple, ast.List)) and len(t.elts) == len(value.elts):
                for te, ve in zip(t.elts, value.elts, strict=True):
                    if self_attrs_written(te) == [attr]:
                        return ve
    return value


def written_at(target: ast.AST) -> list[ast.Subscript]:
    """The subscript targets of an assignment (through tuple targets) whose index is computed, not written out:
    `buf[i]`, `board[r, c]`; not `x[0]` or `x[:, 1:3]`."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return [s for elt in target.elts for s in written_at(elt)]
    if isinstance(target, ast.Subscript) and any(n.__class__ is ast.Name for n in walk(target.slice)):
        return [target]
    return []


def is_literal(expr: ast.expr) -> bool:
    """A value written out in the source: `0.5`, `-1`, `[[1, 2], [3, 4]]`, `[0.0] * 16`."""
    if isinstance(expr, ast.UnaryOp):
        expr = expr.operand
    if isinstance(expr, ast.BinOp):
        return is_literal(expr.left) and is_literal(expr.right)
    if isinstance(expr, (ast.List, ast.Tuple)):
        return all(is_literal(e) for e in expr.elts)
    return isinstance(expr, ast.Constant)


def arg_for(call: ast.Call, name: str, pos: int) -> ast.expr | None:
    """The argument a call passes for parameter `name` at position `pos`, by keyword or position."""
    for k in call.keywords:
        if k.arg == name:
            return k.value
    if 0 <= pos < len(call.args) and not any(isinstance(a, ast.Starred) for a in call.args[: pos + 1]):
        return call.args[pos]
    return None


def callee_module(flow: Flow, call: ast.Call, sf: SourceFile, fn: FunctionInfo | None,
                  env: dict[str, Prov], forward_only: bool = False) -> str | None:
    """The module class a call runs (`model(x)`, `self.encoder(h)`, `model.encode(x)`), if it is one.

    With forward_only, a project method of a module (`self._shared_eval(...)`) does not count."""
    mods = callee_modules(flow, call, sf, fn, env, forward_only)
    return mods[0] if mods else None


def callee_modules(flow: Flow, call: ast.Call, sf: SourceFile, fn: FunctionInfo | None,
                   env: dict[str, Prov], forward_only: bool = False) -> list[str]:
    """Every module class a call may run (see callee_module), in Flow's order."""
    func = call.func
    root = root_name(func)
    # A dotted callee runs a module only through a name the scope binds, `self`, or a module-level global the
    # function reads (`G(z)` in a function, `G = Generator()` at the top); imports and definitions run none.
    if _is_dotted(func) and not (root in env or root == "self" or fn is not None and root is not None
                                 and root not in flow._not_bound_at_top(sf) and root in flow.env(sf, None)):
        return []
    if isinstance(func, ast.Attribute):
        receiver = flow.eval(func.value, sf, fn, env)
        if flow._has_method(receiver, func.attr):
            if forward_only or func.attr in KEEP_INSTANCE:
                return []
            return [c for c in flow._instances(receiver) if flow.is_module_class(c)]
        if func.attr in KEEP_INSTANCE or func.attr in MODULE_METHODS:
            return []
        # The callee is what a project object holds in `self.<attr>` (Flow._attribute), the receiver's parameters
        # bound first: a value's methods (`loss.backward()`, where the loss once touched `net.n_classes` and so
        # carries the parameter `net`) run no module.
        classes = flow.index.classes
        callee = frozenset(a for o in flow.concrete(receiver) if o.kind is Kind.INSTANCE and o.what in classes
                           for a in flow.self_attr(classes[o.what], func.attr))
    else:
        callee = flow.eval(func, sf, fn, env)
    return [c for c in flow._instances(callee) if flow.is_module_class(c)]


def is_model_factory(dotted: str) -> bool:
    """A library function that builds a network: torchvision's model builders (`resnet18`, `fcn_resnet50`), timm's
    `create_model`, a Hugging Face model class's `from_pretrained`/`from_config` (`AutoModelForCausalLM`,
    `BertForSequenceClassification`; not a tokenizer's or a config's). What it returns is a module, as an instance
    of a library module class is."""
    owner, _, last = dotted.rpartition(".")
    if dotted.startswith("transformers.") and last in ("from_pretrained", "from_config"):
        name = owner.rpartition(".")[2]
        return ("Model" in name or "For" in name) and not name.endswith(_NOT_MODELS)
    return dotted == "timm.create_model" or (
        dotted.startswith("torchvision.models.") and last[:1].islower() and not last.startswith(("get_", "list_")))


_NOT_MODELS = ("Config", "Tokenizer", "TokenizerFast", "Processor", "FeatureExtractor", "ImageProcessor")


def is_loss_class(dotted: str) -> bool:
    last = dotted.rsplit(".", 1)[-1]
    return last.endswith("Loss") or last in ("CrossEntropy", "Criterion")
