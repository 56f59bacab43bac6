"""Configuration of the redundancy experiment: the user-facing dataclass and its split into a
static part (:class:`Static`, hashable: shapes, counts, choices) and hyperparameters
(:class:`~bayescortex.experiments.protocol.Hyper`, arrays: every continuous value)."""

from __future__ import annotations

import dataclasses
from typing import Literal, NamedTuple

from bayescortex.inference.modes import check_layout
from bayescortex.models import task_index

from .. import options
from ..learning_setup import learning_rate
from ..options import LearningOptions
from ..protocol import Hyper, Protocol, default_chunk
from ..results import RunOptions, check_fields
from ..simulate import MAX_DELTA, check_contrasts


def check_bins(bins: int, read_out: int) -> None:
    """ValueError unless ``bins`` (within-trial time bins) is at least 2 (the within-trial
    slope and the onset/decision comparison need two) and divides ``read_out``, the samples
    read out (``samples - burn_in``), so that every bin has the same length; the message lists
    the bin counts that would.

    >>> check_bins(3, 96)
    >>> check_bins(4, 97)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: bins: must divide the read-out samples (samples - burn_in = 97) ...: 97 (or ...)
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise ValueError(f"bins: at least 2 within-trial bins, got {bins!r}")
    if read_out % bins:
        fits = [b for b in range(2, read_out + 1) if read_out % b == 0][:12]
        raise ValueError(
            f"bins: must divide the read-out samples (samples - burn_in = {read_out}) so that "
            f"every bin has the same length, got {bins}; bin counts that divide {read_out}: "
            f"{', '.join(map(str, fits)) or 'none'} (or change samples or burn_in)"
        )


class Static(NamedTuple):
    """Static part of a redundancy run (hashable; a change recompiles)."""

    protocol: Protocol
    task: int
    seeds: int
    sessions: int
    subset_size: int
    subsets: int
    bootstrap_subsets: int
    controls: bool
    passive: str
    network_hidden: int
    network_steps: int


class Range(NamedTuple):
    """The allowed values of a continuous field: ``low < value`` (``low_open``) or ``low <=
    value``, and ``value <= high``. Its text (``(0, 10]``) is what help texts and errors show.

    >>> str(Range(0, 10, low_open=True)), 5.0 in Range(0, 10), 0.0 in Range(0, 1, True)
    ('(0, 10]', True, False)
    """

    low: float
    high: float
    low_open: bool = False

    def __contains__(self, value) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        return bool(above and value <= self.high)  # NaN: False

    def __str__(self) -> str:
        return f"{'(' if self.low_open else '['}{self.low:g}, {self.high:g}]"


def check_ranges(config, ranges: dict[str, Range]) -> None:
    """ValueError naming the first field of ``config`` (and its flag) outside its
    :class:`Range` (NaN and infinities are outside every range; None is left alone; a tuple
    field's values are checked one by one).

    >>> from types import SimpleNamespace
    >>> check_ranges(SimpleNamespace(learning_rate=1e30),
    ...              {"learning_rate": Range(0, 10, low_open=True)})
    Traceback (most recent call last):
    ValueError: learning_rate (--learning-rate): must lie in (0, 10], got 1e+30
    """
    for name, allowed in ranges.items():
        value = getattr(config, name)
        for v in value if isinstance(value, tuple) else (value,):
            if v is not None and v not in allowed:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{name} ({flag}): must lie in {allowed}, got {v:g}")


LEARNING_RANGES = {
    "learning_rate": Range(0, 10, low_open=True),
    "odds_increment": Range(0, 1, low_open=True),
    "delta": Range(0, MAX_DELTA),
    "sensory_rate": Range(0, 100),
    "kappa_o": Range(0, 100),
    "none_logit": Range(-50, 50),
    "perturbation": Range(0, 10, low_open=True),
    "apical_gain": Range(0, 1),
    "exposure_rate": Range(0, 100),
    "choice_temperature": Range(0, 100),
}
"""Allowed values of the learning options every training config shares (their help texts
state them): step sizes and tempering positive, the kernel concentration and coupling
non-negative, logits where exp() stays representable; every ceiling far above what learning
reaches (the reference: delta 0.08, kappa_o about 1 to 3)."""

RANGES = {
    **LEARNING_RANGES,
    "network_tc": Range(0, 1e3),
    "network_energy": Range(0, 1e3),
    "network_learning_rate": Range(0, 10, low_open=True),
}
"""Allowed values of the continuous fields of :class:`RedundancyConfig` (stated in their help
texts; ``coherences`` has its own check, at most 1000)."""


@dataclasses.dataclass(frozen=True)
class RedundancyConfig(LearningOptions, RunOptions):
    """Train over sessions, record engaged and passive blocks, measure redundancy."""

    task: Literal["cardinal", "oblique"] = "cardinal"
    """The trained task."""
    seeds: int = 3
    """Independent models ("animals"), run together as one array axis."""
    sessions: int = 4
    """Training sessions after the naive session 0."""
    feedback: Literal["parametric", "free_form"] = "parametric"
    """'parametric': learn the category kernels kappa_o and the context prior p(K | q);
    'free_form': the tasks' whole unit tables and p(K | q)."""
    neurons: int = 64
    """Sensory neurons N_x."""
    units: int = 64
    """Middle-layer units N_g."""
    trials_per_session: int = 256
    """Training trials per session."""
    batch: int = 32
    """Training trials per optimiser step (divides trials_per_session)."""
    learning_rate: float | None = None
    """Adam step size, in (0, 10] (None: 0.05 with the conditional and reward objectives;
    joint: 0.005 parametric, 0.02 free-form)."""
    odds_increment: float = 1.0 / 20
    """Tempering of the evidence accumulator, in (0, 1] (the reference's 1/20)."""
    coherences: tuple[float, ...] = (3.0, 6.0, 9.0, 12.0)
    """Unsigned contrasts (image units: multiples of the pixel noise sd, 1; at most 1000); each
    is shown at +c and -c."""
    record_trials: int = 96
    """Recorded trials per signed contrast and mode."""
    zero_blocks: int = 2
    """Zero-signal trials are zero_blocks * record_trials (the noise covariance)."""
    trial_layout: Literal["reference", "presignal"] = "reference"
    """'reference' (the authors' scripts): every sample sees the stimulus, sample 1 is the
    initial draw, and in the first presignal samples the belief restarts from the prior each
    sample; 'presignal': presignal extra sweeps on signal-free noise (belief frozen) before the
    samples on the stimulus."""
    samples: int = 99
    """Samples of a trial on the stimulus (the reference: the initial draw and samples - 1
    Gibbs sweeps). 99, one fewer than the authors' 100, so that the read-out samples
    (samples - burn_in = 96, 1.2 s at 80 samples/s) fall into 3 bins of 32 samples, the
    authors' 400 ms."""
    presignal: int = 20
    """Pre-signal period: samples before the belief accumulates evidence (see
    trial_layout)."""
    burn_in: int = 3
    """Samples discarded from the spike counts (counts sum samples burn_in + 1 .. samples)."""
    bins: int = 3
    """Within-trial time bins, of equal length: at least 2, and a divisor of the read-out
    samples, samples - burn_in (the default 3: 32 samples, 400 ms at 80 samples/s, the
    authors' bins; the first is the passive presentation's window)."""
    frame_every: int = 8
    """Sweeps per noise frame (0: one static frame per trial). The reference samples at 80
    per second and the paper's noise frames last 100 ms: 8 sweeps."""
    subset_size: int = 32
    """Neurons per random subset (population-size control)."""
    subsets: int = 200
    """Random subsets for the point estimates (median over subsets)."""
    bootstrap: int = 100
    """Bootstrap resamples (Poisson weights on trials in the stream, then seeds)."""
    bootstrap_subsets: int = 24
    """Random subsets inside every bootstrap resample."""
    controls: bool = True
    """Record the ablations and the task switch, and train the discriminative network."""
    network_hidden: int = 64
    """Hidden units of the discriminative comparison network."""
    network_steps: int = 300
    """Most training steps of the classic baselines per session (they stop early once their
    training accuracy reaches the sampling model's)."""
    network_tc: float = 1.0
    """lambda_TC, in [0, 1000]: weight of the total-correlation (redundancy) penalty of the
    efficient-coding baseline (the discriminative baseline has 0)."""
    network_energy: float = 1e-3
    """lambda_E, in [0, 1000]: weight of the energy (L1 of the responses) penalty of both
    baselines."""
    network_learning_rate: float = 3e-4
    """Adam step size of the baselines, in (0, 10] (small enough that early stopping can match
    the sampling model's accuracy: at 3e-3 one step moved accuracy by 0.1 to 0.3)."""
    chunk: int | None = None
    """Trials simulated at once per seed and condition (bounds memory; None: 64 on CPU, where
    small batches keep the sampler's working set in cache (at 64 neurons 20% faster than 192
    or 512 on 2 cores; at 256 neurons 32 to 256 made no difference), 4096 on a GPU or TPU,
    which only a large batch fills). Results do not depend on it beyond float rounding."""

    def __post_init__(self):
        check_fields(
            self,
            positive=(
                "seeds", "sessions", "neurons", "units", "trials_per_session", "batch",
                "odds_increment", "record_trials", "zero_blocks", "samples", "subset_size",
                "subsets", "bootstrap", "bootstrap_subsets", "network_hidden", "network_steps",
            ),
            non_negative=("presignal", "burn_in", "frame_every"),
        )  # fmt: skip
        if self.chunk is not None:
            check_fields(self, positive=("chunk",))
        check_ranges(self, RANGES)  # first: its errors state the range
        self.check_learning()
        if self.trials_per_session % self.batch:
            raise ValueError(
                f"batch: must divide trials_per_session ({self.trials_per_session}), "
                f"got {self.batch}"
            )
        check_contrasts("coherences", self.coherences, unsigned=True)
        if not self.delta <= MAX_DELTA:
            raise ValueError(f"delta: must lie in [0, {MAX_DELTA:g}], got {self.delta}")
        if len(set(self.coherences)) != len(self.coherences):
            raise ValueError(f"coherences: must be distinct, got {self.coherences}")
        if self.subset_size > self.neurons:
            raise ValueError(
                f"subset_size: at most neurons ({self.neurons}), got {self.subset_size}"
            )
        if self.zero_blocks * self.record_trials < self.subset_size + 5:
            raise ValueError(
                f"record_trials: zero-signal trials ({self.zero_blocks * self.record_trials}) "
                f"must be at least subset_size + 5 = {self.subset_size + 5}"
            )
        self.check_run()
        # The trial layout's checks (burn_in, ...), without building arrays: importing the
        # presets below starts no jax backend.
        check_layout(self.samples, self.presignal, self.burn_in, self.bins, self.trial_layout)
        check_bins(self.bins, self.samples - self.burn_in)

    @property
    def step_size(self) -> float:
        """The learning rate, with the per-feedback default filled in."""
        return learning_rate(self.feedback, self.learning_rate, self.objective)

    def split(self) -> tuple[Static, Hyper]:
        """The static part and the hyperparameters of this configuration."""
        protocol = Protocol.of(
            self,
            n_coherences=len(self.coherences),
            zero_trials=self.zero_blocks * self.record_trials,
            trials_per_level=self.record_trials,
            chunk=self.chunk or default_chunk(),
            resamples=self.bootstrap,
        )
        static = Static(
            protocol=protocol,
            task=task_index(self.task),
            seeds=self.seeds,
            sessions=self.sessions,
            subset_size=self.subset_size,
            subsets=self.subsets,
            bootstrap_subsets=self.bootstrap_subsets,
            controls=self.controls,
            passive=self.passive,
            network_hidden=self.network_hidden,
            network_steps=self.network_steps,
        )
        hyper = Hyper(
            learning_rate=self.step_size, odds_increment=self.odds_increment,
            network_tc=self.network_tc, network_energy=self.network_energy,
            network_learning_rate=self.network_learning_rate,
            coherences=sorted(float(c) for c in self.coherences),
            **self.learning_hyper(),
        )  # fmt: skip
        return static, hyper


FULL = RedundancyConfig(
    seeds=5, sessions=10, neurons=256, record_trials=256, zero_blocks=4, subsets=1000,
    bootstrap=200,
)  # fmt: skip
"""The paper-scale preset (``--full``): explicit flags still override its values."""

LEGACY = RedundancyConfig(**options.LEGACY)
"""The first version's definitions (``--legacy``;
:data:`~bayescortex.experiments.options.LEGACY`)."""
