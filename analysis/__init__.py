"""Estimators on spike counts: linear Fisher information, redundancy, noise correlations,
choice probability and psychophysical kernels.

Pure functions on arrays, used by the experiments and on your own recordings. Inputs may be
numpy or jax arrays, or xarray DataArrays with named dims (``trial``, ``neuron``, ``time``);
plain arrays are ``(trial, neuron)`` or ``(trial, time, neuron)``. Bad input raises a
``ValueError`` that names the argument. Definitions follow SCIENCE.md ("Measures").

Start with :func:`redundancy_summary`::

    from bayescortex.analysis import redundancy_summary
    ds = redundancy_summary(counts, signal, subset_size=32, n_subsets=1000,
                            key=jax.random.key(0))

Modules: :mod:`.fisher` (f', linear Fisher information, shuffled information, variance),
:mod:`.redundancy` (redundancy, combination over coherences), :mod:`.subsets` (the
estimate on random neuron subsets, from streamed statistics or counts), :mod:`.summary` (the
summary on a recording),
:mod:`.moments` (streaming sufficient statistics: level means and the zero-signal
covariance, with in-stream bootstrap weights), :mod:`.bootstrap` (confidence intervals over
trials and seeds), :mod:`.correlations` (noise
correlations, variance along f', category and orientation structure of correlations),
:mod:`.choice` (choice probability, weighted and traceable), :mod:`.kernels`
(psychophysical kernels, their time course against the flat kernel),
:mod:`.psychometric` (logistic psychometric fits, the learning index, correlations over
sessions), :mod:`.recording` (input handling, grouping trials by signal, time bins),
:mod:`.io` (spike counts from spike times, NWB files and pynapple objects), :mod:`.bci`
(brain-computer-interface imaging: hit rates, somato-dendritic residuals, signed instructive
signals), :mod:`.bci_outcome` (the trial's outcome decoded from the residual before it),
:mod:`.bci_residual_change` (does a neuron's residual predict its later change?).
"""

from .bci import (
    error_change_contrast,
    feedback_alignment,
    group_mean_sign,
    group_means,
    hit_and_reward_rates,
    learning_speed,
    residual_coupling,
    sign_recovery,
    signed_mode_energy,
    somatodendritic_residual,
)
from .bci_outcome import decode_outcome, pre_outcome_features
from .bootstrap import (
    ConfidenceInterval,
    block_resample_indices,
    bootstrap,
    bootstrap_ci,
    percentile_interval,
)
from .choice import choice_probability, roc_auc, weighted_roc_auc
from .correlations import (
    OrderedCorrelations,
    binned_correlations,
    category_correlation_contrast,
    correlation_from_covariance,
    fraction_variance_along_fprime,
    noise_correlations,
    noise_correlations_by_orientation,
    noise_covariance,
    relative_orientation,
    total_correlation,
)
from .fisher import (
    fprime,
    information_matrix_from_moments,
    linear_fisher,
    linear_fisher_from_moments,
    pooled_covariance,
    pooled_linear_fisher,
    sample_covariance,
    shuffled_fisher,
    shuffled_fisher_from_moments,
)
from .intervals import joint_covariance, ratio_interval, redundancy_intervals
from .io import (
    bin_centres,
    bin_edges,
    counts_from_nwb,
    counts_from_pynapple,
    counts_from_spike_times,
)
from .kernels import (
    KernelShape,
    choice_triggered_average,
    kernel_shape,
    logistic_kernel,
    psychophysical_kernel,
)
from .moments import SignalMoments, accumulate, empty_moments, moments_from_trials, poisson_weights
from .psychometric import (
    PsychometricFit,
    correlation_over_sessions,
    learning_index,
    psychometric_fit,
)
from .recording import SignalLayout, align_trials, bin_time, group_by_signal
from .redundancy import (
    RedundancyEstimate,
    absolute_redundancy,
    combine_coherences,
    inverse_variance_mean,
    percent_redundancy,
    redundancy_from_moments,
)
from .subsets import (
    RedundancyResult,
    estimate_redundancy,
    median_over_subsets,
    random_subsets,
    redundancy_from_stats,
    subset_redundancy,
)
from .summary import redundancy_summary
from .variance import fisher_covariance, fisher_interval, fisher_variance, score_interval

__all__ = [
    "align_trials",
    "fisher_covariance",
    "fisher_interval",
    "information_matrix_from_moments",
    "joint_covariance",
    "ratio_interval",
    "redundancy_intervals",
    "score_interval",
    "decode_outcome",
    "error_change_contrast",
    "feedback_alignment",
    "group_mean_sign",
    "group_means",
    "hit_and_reward_rates",
    "learning_speed",
    "pre_outcome_features",
    "residual_coupling",
    "sign_recovery",
    "signed_mode_energy",
    "somatodendritic_residual",
    "absolute_redundancy",
    "ConfidenceInterval",
    "OrderedCorrelations",
    "RedundancyEstimate",
    "RedundancyResult",
    "SignalLayout",
    "bin_centres",
    "bin_edges",
    "bin_time",
    "block_resample_indices",
    "bootstrap",
    "bootstrap_ci",
    "choice_probability",
    "combine_coherences",
    "correlation_from_covariance",
    "counts_from_nwb",
    "counts_from_pynapple",
    "counts_from_spike_times",
    "estimate_redundancy",
    "fisher_variance",
    "fprime",
    "fraction_variance_along_fprime",
    "group_by_signal",
    "inverse_variance_mean",
    "linear_fisher",
    "linear_fisher_from_moments",
    "median_over_subsets",
    "noise_correlations",
    "noise_correlations_by_orientation",
    "noise_covariance",
    "percent_redundancy",
    "percentile_interval",
    "pooled_covariance",
    "pooled_linear_fisher",
    "psychophysical_kernel",
    "random_subsets",
    "redundancy_from_moments",
    "redundancy_from_stats",
    "redundancy_summary",
    "SignalMoments",
    "accumulate",
    "empty_moments",
    "moments_from_trials",
    "poisson_weights",
    "relative_orientation",
    "roc_auc",
    "sample_covariance",
    "shuffled_fisher",
    "shuffled_fisher_from_moments",
    "subset_redundancy",
    "total_correlation",
    "KernelShape",
    "PsychometricFit",
    "binned_correlations",
    "category_correlation_contrast",
    "choice_triggered_average",
    "correlation_over_sessions",
    "kernel_shape",
    "logistic_kernel",
    "learning_index",
    "psychometric_fit",
    "weighted_roc_auc",
]
