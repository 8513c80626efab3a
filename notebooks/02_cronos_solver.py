# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # CRONOS: solving the convex program with ADMM and Nystrom-preconditioned CG
#
# [![Open In Colab](/book/assets/colab-badge.svg)](https://colab.research.google.com/github/coala-book/coala-book/blob/main/notebooks/02_cronos_solver.ipynb)
#
# The convex program of the previous chapter is a second-order-cone program; interior-point solvers do
# not scale to COALA's feature dimensions. COALA solves it with CRONOS (Feng, Frangella & Pilanci 2024):
# ADMM whose only expensive step is one linear system with a fixed matrix, solved by conjugate gradients
# with a randomized Nystrom preconditioner. This notebook derives the splitting and the linear system,
# measures what the preconditioner buys, shows the solver's convergence against an independent
# interior-point optimum, then trains a CRONOS head on real text features (MiniLM embeddings of IMDb
# reviews) against an Adam-trained network of the same width, and measures the weak points of the
# reference implementation that this book's solver avoids.

# %% tags=["remove-cell"]
# Colab only: install coala_lib and the packages Colab lacks; elsewhere this does nothing.
import subprocess
import sys

if "google.colab" in sys.modules:
    package = "coala-lib @ git+https://github.com/coala-book/coala-book@main"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)

# %% tags=["parameters"]
seed = 0
device = "cpu"  # "auto" uses a GPU when there is one (encoder and solvers)
data_dir = None  # None reads $COALA_DATA_DIR, else the Hub
# Synthetic problem for the preconditioner and convergence studies
synth_n, synth_d, synth_decay = 300, 16, 1.0
synth_P = 8
synth_beta = 1e-3
nystrom_ranks = [5, 20, 50, 100]
convergence_iters = 200
rho_values = [
    1e-3,
    1e-2,
]  # convergence runs: the solver default and the paper's Table 10 value
# IMDb heads
n_train, n_test = 600, 400
max_length = 128  # MiniLM word pieces per review (its limit is 256)
P = 10  # sampled patterns, as in COALA (at most 2P hidden ReLUs)
beta = 1e-3  # COALA's Phase I weight
cronos_iters = (
    2000  # step cap of the convex head's solver (it stops earlier once certified)
)
phase1_tol = (
    1e-4  # certified relative gap and relative cone violation at which a fit stops
)
adam_lr = 1e-3
adam_step_grid = [10, 30, 100, 300]
solver_bench_file = "bench_solver_cpu_grid.json"  # bench/solver.py's, in results/
solver_long_file = "bench_solver_cpu_grid_long.json"  # default method, 12,000-step cap
solver_targets_file = "bench_solver_targets_cpu.json"  # bench/solver.py --targets
solver_heads_file = "bench_solver_heads_cpu.json"  # bench/solver.py --heads

# %%
import json

import matplotlib.pyplot as plt
import pandas as pd
import torch
from IPython.display import display

from coala_lib.backbone import encode_texts
from coala_lib.chapters import convex_experiments as ex
from coala_lib.chapters import readable
from coala_lib.chapters.plots import (
    plot_accuracy_vs_time,
    plot_admm_convergence,
    plot_nystrom_sweep,
)
from coala_lib.claims import difference_interval
from coala_lib.claims import paper as coala_paper
from coala_lib.convex import CronosConfig, fit_cronos, sample_gates
from coala_lib.core import environment_record, resolve_device, results_file
from coala_lib.data import load_imdb_reviews

dev = resolve_device(device)
print(
    {
        k: environment_record()[k]
        for k in ("device", "device_name", "cpu_count", "torch")
    }
)

# %% [markdown]
# ## 1. The ADMM splitting
#
# Stack the convex ReLU variables as $u = (v_1, \dots, v_P, w_1, \dots, w_P) \in \mathbb{R}^{2P \times d}$ and write
# two linear maps: the prediction $F u = \sum_i D_i X (v_i - w_i) \in \mathbb{R}^n$ and the cone map
# $G u = \big[(2D_i - I) X v_i;\ (2D_i - I) X w_i\big]_{i} \in \mathbb{R}^{n \times 2P}$. The program is
#
# $$
# \min_{u, v, s}\ \frac12 \|F u - y\|_2^2 + \beta \|v\|_{2,1} + \mathbb{I}_{\ge 0}(s)
# \quad \text{s.t.} \quad u = v, \quad G u = s,
# $$
#
# with $\|v\|_{2,1} = \sum_j \|v_j\|_2$ over the $2P$ rows. Three blocks, each simple on its own: $u$ carries
# the smooth loss, $v$ the group penalty, $s$ the cone constraints. Scaled ADMM with penalty $\rho$ and
# scaled duals $\lambda$ (for $u = v$) and $\nu$ (for $Gu = s$) minimises the augmented Lagrangian
# $\frac12\|Fu - y\|^2 + \beta\|v\|_{2,1} + \mathbb{I}_{\ge 0}(s) + \frac\rho2\|u - v + \lambda\|^2 + \frac\rho2\|Gu - s + \nu\|^2$
# over one block at a time:
#
# 1. **$u$-step.** Setting the gradient in $u$ to zero, $F^\top(Fu - y) + \rho(u - v + \lambda) + \rho G^\top(Gu - s + \nu) = 0$; divided by $\rho$:
#
#    $$
#    \Big(I + \tfrac1\rho F^\top F + G^\top G\Big)\, u = \tfrac1\rho F^\top y + v - \lambda + G^\top (s - \nu).
#    $$
#
# 2. **$v$-step.** $\min_v \beta\|v\|_{2,1} + \frac\rho2\|u + \lambda - v\|^2$ separates over rows: each row of
#    $z = u + \lambda$ is shrunk by the group soft-threshold $v_j = (1 - \frac{\beta/\rho}{\|z_j\|_2})_+\, z_j$, which sets
#    whole neurons exactly to zero.
# 3. **$s$-step.** $s = \max(Gu + \nu, 0)$, the projection onto the nonnegative orthant.
# 4. **Dual updates.** $\lambda \leftarrow \lambda + u - v$, $\nu \leftarrow \nu + Gu - s$.
#
# **The $u$-system.** Its matrix $A = I + F^\top F/\rho + G^\top G$ is symmetric, and positive definite because
# it is the identity plus two Gram matrices: $x^\top A x = \|x\|^2 + \|Fx\|^2/\rho + \|Gx\|^2 \ge \|x\|^2$. It does
# not depend on $v, s, \lambda, \nu$, so it is the same matrix at every iteration; only the right-hand side
# moves. And since $(2D_i - I)^2 = I$ (a diagonal of $\pm 1$),
#
# $$
# G^\top G\, u = \big[X^\top (2D_i - I)^2 X v_i;\ \dots\big] = \big[X^\top X v_i;\ \dots\big], \qquad
# G^\top G = I_{2P} \otimes X^\top X .
# $$
#
# A matvec with $A$ therefore costs one pass of $F$ and $F^\top$ (about $2ndP$ multiply-adds each, since $F$
# only sees $v_i - w_i$) plus $2P$ products with the precomputed $d \times d$ Gram matrix ($2Pd^2$), instead
# of also applying $G$ and $G^\top$ through $X$ (another $4ndP$). It is never formed: conjugate gradients
# need only matvecs, warm-started at the previous $u$.

# %% [markdown]
# ## 2. The randomized Nystrom preconditioner
#
# CG needs about $\sqrt{\kappa(A)}$ iterations per digit of accuracy. The eigenvalues of $A$ are $1$ plus those
# of the PSD part $H = F^\top F/\rho + G^\top G$, and for real features $H$ has a few large eigenvalues and a long
# tail. The randomized Nystrom approximation (Frangella, Tropp & Udell 2023) sketches $H$ with $r$ random
# test vectors, $Y = H\Omega$, and forms $\hat H = Y(\Omega^\top Y)^{-1}Y^\top = U \hat\Lambda U^\top$ (rank $r$, built once,
# $r$ matvecs). The preconditioner
#
# $$
# M^{-1} = (\hat\lambda_r + 1)\, U (\hat\Lambda + I)^{-1} U^\top + (I - U U^\top)
# $$
#
# maps the $r$ captured directions to eigenvalues near $\hat\lambda_r + 1$ and leaves the rest alone, so the
# condition number falls from $\lambda_1(A)$ to roughly $\lambda_{r+1}(A)$ when the spectrum decays.
#
# **What is measured.** A synthetic problem small enough to form $A$ densely: `synth_n` Gaussian points in
# $d$ = `synth_d` dimensions with column scales $k^{-1}$ (a decaying spectrum), labels from a random ReLU
# teacher, `synth_P` sampled patterns, so $A$ has size $N = 2Pd$. For each rank $r$: exact condition
# numbers from the eigenvalues of the dense matrices ($A$, and $L^\top A L$ with $M^{-1} = LL^\top$, which has the
# spectrum of $M^{-1}A$), and the PCG iterations to reach relative residual $10^{-8}$ on the first $u$-step's
# right-hand side $F^\top y/\rho$, with $\rho$ the solver's default $10^{-3}$.
#
# **Where this book departs from the paper: the Kronecker preconditioner.** On real, standardised features
# the spectrum of $F^\top F$ does *not* decay fast: its $(i, j)$ block is $X^\top D_i D_j X$, which is close
# to $c_{ij} X^\top X$ with $c_{ij}$ the fraction of rows active in both patterns, so about $Pd$ eigenvalues
# are of the same order and a rank-$r$ sketch with $r \ll Pd$ cannot capture them. This book's solver
# therefore defaults to a preconditioner built from exactly that structure,
#
# $$
# M = I + Q \otimes X^\top X, \qquad Q = I_{2P} + E^\top C E / \rho, \quad E = [I_P,\ -I_P],\ C = (c_{ij}),
# $$
#
# which is inverted exactly from one eigendecomposition of the $d \times d$ Gram matrix and one of the
# $2P \times 2P$ matrix $Q$ (no sketch, no rank to choose). `fit_cronos(..., preconditioner=...)` keeps the
# paper's plain Nystrom preconditioner and a block-whitened Nystrom variant (an exact inverse of the
# $I + G^\top G$ part combined with a Nystrom sketch of the rest) as options; the sweep below measures all
# of them on one system, and `bench/solver.py` measures them on a 10,000 x 384 problem
# (`results/bench_solver_cpu.json`).

# %% mystnb={"figure": {"caption": "The preconditioners on the synthetic system against the Nystrom rank r: PCG iterations to a relative residual of 1e-8 (left) and the condition number of the preconditioned matrix (right), both on log scales.", "name": "fig-02-nystrom"}, "image": {"alt": "Two line charts sharing the Nystrom rank on the x axis, log-scaled y axes: PCG iterations on the left, condition numbers on the right, one line with markers per preconditioner."}}
X_syn, y_syn = ex.synthetic_problem(synth_n, synth_d, synth_decay, seed=seed)
sweep = ex.nystrom_rank_sweep(X_syn, y_syn, P=synth_P, ranks=nystrom_ranks, seed=seed)
fig = plot_nystrom_sweep(sweep)
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
table = sweep.pivot(
    index="rank",
    columns="preconditioner",
    values=["pcg_iterations", "condition_number"],
)
print(f"system size N = 2 P d = {2 * synth_P * synth_d}")
display(readable(table, significant=4))

# %% [markdown]
# ## The duality-gap certificate: how far from the optimum is a fit?
#
# "Convex, therefore globally optimal" holds only for a solver that reaches the optimum, so every fit in
# this book ends with a certificate (`coala_lib.convex.certificate`). Write $f(z) = \tfrac12\|z - y\|^2$,
# $h(U) = \beta\sum_j\|U_j\|_2$ over the groups (the $2P$ rows $[v; w]$ for ReLU, the $P$ rows $u$ for gated),
# and the ReLU program as $p^\star = \min_U f(FU) + h(U)$ s.t. $GU \ge 0$ (gated: no constraint).
#
# **Lagrangian.** With $\lambda \in \mathbb R^n$ for $z = FU$ and $\mu \ge 0$ (one entry per row and group) for $GU \ge 0$:
# $L(U, z, \lambda, \mu) = f(z) + h(U) + \lambda^\top(FU - z) - \langle\mu, GU\rangle$.
#
# **Dual.** Minimising over $z$ gives $-f^*(\lambda) = -\tfrac12\|\lambda\|^2 - \lambda^\top y$; minimising over $U$
# gives $0$ if every group satisfies $\|(F^\top\lambda - G^\top\mu)_j\|_2 \le \beta$ (the dual norm of the group
# penalty) and $-\infty$ otherwise. So every dual-feasible $(\lambda, \mu)$ gives the lower bound
# $d(\lambda) = -\tfrac12\|\lambda\|^2 - \lambda^\top y \le p^\star$; the constraint is homogeneous, so $\mu$ enters
# only through feasibility (gated: $\mu = 0$).
#
# **Scaling to feasibility.** From any iterate $U$ take $\lambda_0 = FU - y$ (at the optimum the residual is the
# optimal $\lambda$) and the solver's cone multipliers $\mu_0$, projected onto $\mu_0 \ge 0$ (the augmented
# Lagrangian's $(\mu - \rho GU)_+$; CRONOS's $-\rho\nu$). Feasibility is positively homogeneous, so
# $(t\lambda_0, t\mu_0)$ is feasible for $t \le t_{\max} = \beta/\max_j\|(F^\top\lambda_0 - G^\top\mu_0)_j\|$; $d(t\lambda_0)$
# is a concave quadratic in $t$, maximised at $t^\star = -\lambda_0^\top y/\|\lambda_0\|^2$, and the bound uses
# $t = \min(\max(t^\star, 0), t_{\max})$. The bound is rigorous for any $U$ and $\mu_0$ (only its tightness depends
# on them) and equals $p^\star$ at a KKT point ($t = 1$). The best bound seen during a run is kept.
#
# **Correcting instead of scaling (more texts than weights).** Scaling fails when $\|F\|^2 \gg \beta$: an error
# $\delta$ in $U$ moves $F^\top\lambda_0$ by $F^\top F\delta$, which grows with $n$, so $t_{\max}$ collapses while the
# primal objective is already right to many digits (with scaling alone, the grid's $n = 10^5$ row ended
# 1,000 steps at $t = 0.027$ and a certified gap of 0.95). When $M = [D_1X, \dots, D_PX]$ has full column rank ($n > dP$, where the
# solver already forms $H = M^\top M$ for its $u$-step), a feasible point can be *built*: project
# $h^0 = M^\top\lambda_0$ onto the set the constraint allows for each pattern (gated: the ball $\|h_i\| \le \beta$; ReLU:
# the intersection of two balls of radius $\beta$ centred at the cone terms $G^\top\mu$ of $v_i$ and $w_i$, a lens
# with a closed-form projection), then take the $\lambda$ that maximises $d$ on $\{M^\top\lambda = h\}$:
# $\lambda = Mw - y$ with $Hw = h + M^\top y$. For ReLU the point with $\mu = 0$ is always a candidate too: it is
# the dual of the gated relaxation ($u_i = v_i - w_i$ fits the same and $\|u_i\| \le \|v_i\| + \|w_i\|$, so the gated
# optimum is below the ReLU one), tight when the cone constraints barely move the optimum. On tall planted
# data that candidate does what ADMM's multipliers cannot (`tests/test_certificate.py`: after 100 steps on
# $n = 2{,}000$, $d = 8$, $P = 4$ the scaled point proves less than 90 % of the optimum, the corrected one more
# than 99.9 %); the grid below shows it at $n = 10^5$. Every candidate still goes through the scaling above,
# so rounding cannot make a bound invalid.
#
# **Primal side.** $f(FU) + h(U)$ bounds $p^\star$ from above only if $GU \ge 0$, so each fit reports the relative
# gap $(f(FU) + h(U) - d)/|f(FU) + h(U)|$ *and* the returned model's cone violation
# $\|(-GU)_+\|/\|GU\|$ (and its maximum). A fit is **certified** when both are at most the tolerance
# (`phase1_tol`, $10^{-4}$); the solvers stop on that, and a fit that runs out of steps first says so
# (`result.certified` is false and a warning names the gap). The tests check the bound against an
# interior-point optimum (`tests/test_certificate.py`: never above it, equal to it at the solution).
#
# **Solvers.** CRONOS (the paper's ADMM, below) is kept as the paper's method. The default for the ReLU
# program is the same ADMM splitting made exact (`method="admm"`): the $u$-system
# $A = B + F^\top F/\rho$, $B = I \otimes (I + X^\top X)$, is inverted by the **Woodbury identity**
# $A^{-1} = B^{-1} - B^{-1}F^\top(\rho I_n + FB^{-1}F^\top)^{-1}FB^{-1}$, whose $n \times n$ core is cheap because
# $F$ applies one $X$ to every group: $FB^{-1}F^\top = 2\,(X(I + X^\top X)^{-1}X^\top) \circ (MM^\top)$ with the
# $n \times P$ mask matrix $M$ (one Cholesky factorisation per fit; one or two conjugate-gradient steps
# refine each solve to full accuracy). It adds **over-relaxation** $\alpha = 1.8$ (the $v$-, $s$- and
# multiplier updates see $\alpha u + (1 - \alpha)v$ and $\alpha Gu + (1 - \alpha)s$) and the penalty
# $\rho = 0.1\beta$, the value that certified fastest on both this book's heads ($\beta = 10^{-3}$) and the
# MiniLM targets below ($\beta \approx 190$). Residual balancing of $\rho$ was tried and slowed the
# certificate down. With more texts than effective weights ($n > dP$) the same inverse is factored on the
# weights' side instead (`PrimalInverse`): in the coordinates $(v - w)/\sqrt2$, $(v + w)/\sqrt2$ the matrix
# splits into $I_P \otimes K + 2H/\rho$, with $H_{ij} = X^\top D_i D_j X$, and $I_P \otimes K$, so one
# $dP \times dP$ Cholesky factorisation does it. When both cores, $n \times n$ and $dP \times dP$, are above
# the device's limit (`exact_core_limit`: 16,384 on CPU, where its float64 matrices then take 8 GiB; half
# the free memory on a GPU; `CronosConfig.exact_max_core` overrides it) the default becomes an
# **augmented Lagrangian** on the cone constraints with accelerated proximal gradient (FISTA with
# restarts) inside; the gated program uses plain FISTA (`coala_lib.convex.proximal`). All of them produce the multipliers the
# certificate needs.

# %% [markdown]
# ## 3. Convergence
#
# CRONOS on the same synthetic problem ($\beta$ = `synth_beta`, the solver's defaults: the Kronecker preconditioner,
# at most 32 PCG iterations per $u$-step with a summable tolerance schedule), at the penalties
# `rho_values` (the solver's default $10^{-3}$ and the paper's $10^{-2}$), against the optimum of the
# same sampled program found by an interior-point method (cvxpy + Clarabel). Shown per ADMM iteration and
# per second of wall time on this machine: the relative objective gap $|f(v_k) - f^\star|/f^\star$ at the prox
# iterate, the primal residual $\|(u - v, Gu - s)\|$ and the dual residual $\rho\|\Delta v + G^\top \Delta s\|$.
# (The prox iterate may violate the cones slightly before convergence, so $f(v_k)$ can fall below $f^\star$;
# hence the absolute value.) Next to them, the default solver (the exact, over-relaxed ADMM described above,
# `convergence_iters` steps; its residuals are in the same panels) and the augmented Lagrangian (FISTA
# inside; its steps are single passes, so it gets `20 * convergence_iters` of them). The printed lines give each run's **certificate**, which needs no $f^\star$:
# the lower bound must sit below the interior-point optimum, and the certified gap says how far from
# the optimum the run can *prove* it is, which with $\beta = 10^{-3}$ (fewer constraints active than
# unknowns, nearly interpolating) is far larger than its actual distance to $f^\star$: the dual point
# built from the residual is feasible only once the residual is accurate to about $\beta/\|F\|$.

# %% mystnb={"figure": {"caption": "Convergence on the synthetic problem, per ADMM iteration (left) and per second of wall time (right): relative objective gap to the interior-point optimum, primal and dual residuals (colours; log scale), one line style per run.", "name": "fig-02-convergence"}, "image": {"alt": "Two log-scale line charts with a shared y axis: the relative objective gap and the primal and dual residuals of each run, against iterations on the left and seconds on the right."}}
patterns_syn = sample_gates(X_syn, synth_P, seed=seed)
reference = ex.solve_convex_relu_cvxpy(X_syn, y_syn, patterns_syn, synth_beta)
f_star = reference.objective(X_syn, y_syn, synth_beta)
runs_syn = {
    f"CRONOS, rho = {rho:g}": fit_cronos(
        X_syn,
        y_syn,
        CronosConfig(
            beta=synth_beta,
            rho=rho,
            method="cronos",
            max_iters=convergence_iters,
            tol=phase1_tol,
            cone_tol=phase1_tol,
            seed=seed,
        ),
        patterns=patterns_syn,
    )
    for rho in rho_values
}
runs_syn["exact over-relaxed ADMM (default)"] = fit_cronos(
    X_syn,
    y_syn,
    CronosConfig(
        beta=synth_beta,
        max_iters=convergence_iters,
        tol=phase1_tol,
        cone_tol=phase1_tol,
        seed=seed,
    ),
    patterns=patterns_syn,
)
runs_syn["augmented Lagrangian"] = fit_cronos(
    X_syn,
    y_syn,
    CronosConfig(
        beta=synth_beta,
        method="alm",
        tol=phase1_tol,
        cone_tol=phase1_tol,
        max_iters=20
        * convergence_iters,  # one step: 2 passes over X; one ADMM iteration: up to 64
        seed=seed,
    ),
    patterns=patterns_syn,
)
convergence = pd.concat(
    [ex.convergence_frame(r, f_star, run=name) for name, r in runs_syn.items()]
)
fig = plot_admm_convergence(convergence)
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
print(f"interior-point optimum f* = {f_star:.4g}")
for name, run in runs_syn.items():
    c = run.certificate
    print(
        f"{name}: {run.iterations} steps, lower bound {c.lower_bound:.5g} "
        f"(<= f*: {c.lower_bound <= f_star * (1 + 1e-9)}), certified gap "
        f"{c.relative_gap:.1e}, cone violation {c.cone_violation_rel:.1e}, "
        f"certified: {c.certified}"
    )
for name, frame in convergence.groupby("run", sort=False):
    at = frame.set_index("iteration")
    marks = sorted({min(k, len(at)) for k in (10, 50, len(at))})
    print(
        f"{name}: relative gap after {' / '.join(map(str, marks))} iterations: "
        + " / ".join(f"{at.loc[k, 'objective_gap']:.2e}" for k in marks)
        + f"; final relative cone violation {at['violation'].iloc[-1]:.1e}"
    )

# %% [markdown]
# ### The benchmark grid: time to a certificate
#
# `bench/solver.py` times Phase I on planted data (standard-normal features, labels $\pm 1$ split at the
# median of a random 16-neuron two-layer ReLU teacher, $\beta = 10^{-3}$, float64) for
# $n \in \{10^3, 10^4, 10^5\}$, $d \in \{384, 4096\}$ and $P \in \{10, 64\}$: each configuration by the
# default method (the exact, over-relaxed ADMM when $\min(n, dP) \le 16{,}384$, the augmented Lagrangian
# otherwise) and by
# CRONOS with the Kronecker and with the Nystrom preconditioner at its default $\rho = 10^{-3}$. Every run stops on the
# **certificate** (relative gap and relative cone violation both at most $10^{-3}$) and records when it
# got there; a run whose step cap came first reads `not certified`, with the certified gap it ended at. No
# reference optimum is involved, so no row can be "unreliable". Configurations whose work per operator
# application, about $ndP + Pd^2$ multiply-adds, is above the benchmark's `--max-work` cap were not run on
# this CPU and read `skipped`; they are for the GPU run of the same command (`book/reproduce.md`). The
# table is the committed record (`results/bench_solver_cpu_grid.json`, made by the command in its
# `parameters`; one torch thread on this book's 2-core CPU while other jobs ran on the other core, so the
# seconds are upper bounds; its `contention` says what ran).
#
# The column `n < 2dP` separates two regimes. With more samples than the $2dP$ unknowns the program is an
# over-determined regularised fit. With fewer it can interpolate the labels: the optimum is small and
# consists mostly of the group-lasso term, which is the regime of this book's heads ($n = 600$ texts
# against $2dP \approx 7{,}700$ in section 4 below, and $11{,}520$ for SmolLM2 in notebook 03) and the one
# where a fixed-penalty ADMM with an inexact $u$-step crawls. There the exact ADMM needs a few thousand
# steps (the step cap is 3,000); in the tall rows it needs a few hundred, and the corrected dual point of
# the certificate section is what lets the certificate see it (with scaling alone the $n = 10^5$ row
# ended 1,000 steps at a certified gap of 0.95).

# %%
# NBVAL_CHECK_OUTPUT
bench = json.loads(results_file(solver_bench_file).read_text())  # in results_dir()
env, params = bench["environment"], bench["parameters"]
print(
    f"{env['device']} ({env['device_name']}), {env.get('torch_threads', params.get('threads'))} torch thread(s), "
    f"{params['dtype']}; certified gap {bench['gap']:g}; finished: {bench.get('finished')}"
)
print(ex.bench_text(ex.solver_bench_frame(bench)))

# %% [markdown]
# One row stops at the cap: $n = 10^4$, $P = 64$, the largest interpolating problem here (a $10{,}000 \times
# 10{,}000$ Woodbury core). The same command with a 12,000-step cap, the default method alone and that row
# (`--max-iters 12000 --preconditioners --configs 10000,384,64`, a record of its own) says how far it is from a
# certificate; the same record then took the two $d = 4{,}096$ rows that the grid's work cap skips
# (`--resume --configs 10000,4096,10 1000,4096,64 --max-work 2e9`):

# %%
# NBVAL_CHECK_OUTPUT
long_run = json.loads(results_file(solver_long_file).read_text())
print(f"contention: {long_run['contention']}")
print(
    ex.bench_text(ex.solver_bench_frame(long_run)[lambda f: f["status"] != "skipped"])
)

# %% [markdown]
# ### Certified: the default solvers against CRONOS on MiniLM features
#
# `bench/solver.py --targets` measures Phase I's time targets: MiniLM features of 2,000 and 4,000 IMDb
# reviews ($d = 384$, standardised, float64), $P \in \{10, 32\}$, $\beta$ set so that about three quarters of
# the groups stay active (gated: calibrated by bisection per problem; ReLU: a tenth of the largest useful
# value; recorded, and the `active` column gives the groups left nonzero), each program solved by the
# default method (FISTA for gated ReLU, the exact over-relaxed ADMM for ReLU), by the augmented Lagrangian
# (ReLU) and by CRONOS at its default $\rho$, with the time at which the **certificate** first reached the target (gated: relative gap
# $10^{-6}$ within 1 s; ReLU: $10^{-4}$ and cone violation $10^{-4}$ within 10 s). `seconds_to_target` is
# empty when the run's step cap came first; `certified_gap` is where it ended. The record also holds an
# interior-point cross-check of the lower bound (`cross_checks`). One torch thread on this book's shared
# 2-core CPU (the record's `contention` says what else ran), so the seconds are upper bounds on what an
# idle core does.

# %%
# NBVAL_CHECK_OUTPUT
targets = json.loads(results_file(solver_targets_file).read_text())
print(f"{targets['features']}\ncontention: {targets['contention']}")
print(ex.bench_text(ex.targets_frame(targets)))
for check in targets["cross_checks"]:
    print(
        f"Clarabel cross-check, {check['model']} n={check['n']} P={check['P']}: optimum "
        f"{check['clarabel_optimum']:.8g}, certificate lower bound {check['lower_bound']:.8g} "
        f"(below the optimum: {check['bound_below_optimum']})"
    )

# %% [markdown]
# ### Certified: the book's own heads
#
# The programs that matter most are the heads this book deploys: notebook 03's (300 pairs, 600 stacked
# texts of SmolLM2 features, $d = 576$, $P = 10$, $\beta = 10^{-3}$: fewer texts than the $2dP = 11{,}520$
# unknowns, a nearly interpolating optimum) and one of 1,000 pairs, the IMDb frontier's size.
# `bench/solver.py --heads` solves both to a certified $10^{-4}$ by the default method, the augmented
# Lagrangian and CRONOS at the 300 steps that were this book's default before the exact ADMM replaced it.

# %%
# NBVAL_CHECK_OUTPUT
heads_bench = json.loads(results_file(solver_heads_file).read_text())
print(f"contention: {heads_bench['contention']}")
print(ex.bench_text(ex.heads_frame(heads_bench)))

# %% [markdown]
# ## 4. A CRONOS head on real text features
#
# Now the setting of COALA's Phase I on real data, at a scale this CPU can run: `n_train` IMDb training
# reviews and `n_test` test reviews (balanced, drawn by `seed`), labels $+1$ positive and $-1$ negative,
# embedded by the offline MiniLM sentence encoder (all-MiniLM-L6-v2, $d = 384$, mean-pooled, first
# `max_length` word pieces). Features are standardised with the training statistics and given a constant
# column for the bias. Both heads minimise the same squared loss with weight decay $\beta$ = `beta`:
#
# * **convex head**: the convex ReLU program with $P$ = `P` sampled patterns, solved by the default method
#   (the exact over-relaxed ADMM, at most `cronos_iters` steps, stopping once certified to `phase1_tol`) and
#   recovered into a ReLU net with at most $2P$ neurons; the curve is the test accuracy of the net
#   recovered from each iterate;
# * **Adam** and **AdamW**: the non-convex network with $2P$ neurons, full-batch, learning rate `adam_lr`;
#   Adam with $\beta$ in the loss (the same objective), AdamW with PyTorch's decoupled weight decay 0.01
#   (the paper's baseline optimiser). Each point of a curve is a separate run of that many steps from the
#   same seed (full-batch runs are deterministic, so it is a prefix of the longest run).
#
# Wall time is measured the same way for all: the optimiser's own loop on the same device, synchronised,
# without the encoder, evaluation, or (for Adam) initialisation; CRONOS's clock includes building the
# patterns and the Nystrom preconditioner.

# %%
train_texts, y_train = load_imdb_reviews(
    "train", n=n_train, seed=seed, data_dir=data_dir
)
test_texts, y_test = load_imdb_reviews("test", n=n_test, seed=seed, data_dir=data_dir)
E_train = encode_texts(
    train_texts, device=dev, max_length=max_length, cache=True, progress=False
)
E_test = encode_texts(
    test_texts, device=dev, max_length=max_length, cache=True, progress=False
)
# float64 on a CPU, as the head pipeline of notebook 03 (a certificate at 1e-4 needs it); float32 on a GPU
dtype = torch.float64 if dev.type == "cpu" else torch.float32
X_train, X_test = ex.standardize_with_bias(
    E_train.to(dev, dtype), E_test.to(dev, dtype)
)
y_train, y_test = y_train.to(dev, dtype), y_test.to(dev, dtype)
print(
    f"features: train {tuple(X_train.shape)}, test {tuple(X_test.shape)}, {X_train.dtype} on {X_train.device}"
)

# %% mystnb={"figure": {"caption": "Test accuracy on IMDb reviews against wall time (symmetric log scale) while fitting the convex head and while training the same-width network by Adam and by AdamW.", "name": "fig-02-accuracy"}, "image": {"alt": "A line chart of test accuracy against wall time in seconds, one line with markers per method: the convex head's solver, Adam on the same objective, and AdamW."}}
head_config = CronosConfig(
    P=P,
    beta=beta,
    max_iters=cronos_iters,
    tol=phase1_tol,
    cone_tol=phase1_tol,
    seed=seed,
)
cronos_curve, head = ex.cronos_accuracy_curve(
    X_train, y_train, X_test, y_test, head_config
)
adam_kwargs = dict(width=2 * P, beta=beta, lr=adam_lr, seed=seed)
adam_curve = ex.adam_accuracy_curve(
    X_train,
    y_train,
    X_test,
    y_test,
    step_grid=adam_step_grid,
    label="Adam (same objective)",
    optimizer="adam",
    **adam_kwargs,
)
adamw_curve = ex.adam_accuracy_curve(
    X_train,
    y_train,
    X_test,
    y_test,
    step_grid=adam_step_grid,
    label="AdamW (wd 0.01)",
    optimizer="adamw",
    **adam_kwargs,
)
curves = pd.concat([cronos_curve, adam_curve, adamw_curve], ignore_index=True)
fig = plot_accuracy_vs_time(curves)
plt.show()

# %%
finals = ex.final_rows(curves)
display(
    readable(
        finals[["step", "seconds", "train_accuracy", "test_accuracy", "width"]],
        significant=4,
    )
)
print(
    f"convex head ({head.method}, {head.iterations} steps): {head.certificate.summary()}"
)

# %% [markdown]
# **The paper's claim.** Table 7 of the paper reports Stage-One head accuracy, CRONOS against AdamW, on
# features of five backbones and three datasets; CRONOS is ahead in 14 of the 15 cells and AdamW in one
# (DistilGPT-2 on UltraFeedback). The paper's numbers are read from `coala_lib.claims.paper`; the table
# below puts its IMDb cells beside ours.
# Ours are on different features (MiniLM sentence embeddings of whole reviews, not an LLM's last layer on
# preference pairs), far fewer training points, and a sentiment label rather than a preference label, so
# only the direction of the comparison is comparable, not the values.

# %%
ours = finals["test_accuracy"]
table7 = coala_paper.table7_frame()
imdb7 = table7[table7["dataset"] == "imdb"].set_index("model")
claim = pd.DataFrame(
    {
        "CRONOS head (%)": [*imdb7["CRONOS"], 100 * ours["convex head"]],
        "AdamW head (%)": [*imdb7["AdamW"], 100 * ours["AdamW (wd 0.01)"]],
        "Adam head, same objective (%)": [
            *[float("nan")] * len(imdb7),
            100 * ours["Adam (same objective)"],
        ],
    },
    index=[
        *[f"paper: {m}, IMDb" for m in imdb7.index],
        f"ours: MiniLM, IMDb {n_train}/{n_test}",
    ],
)
display(readable(claim, index="backbone and data", decimals=2))
low, high = difference_interval(ours["convex head"], ours["AdamW (wd 0.01)"], n_test)
print(
    f"\nours, CRONOS minus AdamW: {100 * (ours['convex head'] - ours['AdamW (wd 0.01)']):+.2f} points "
    f"on {n_test} test reviews, 95% interval [{100 * low:+.2f}, {100 * high:+.2f}] "
    "(one split, one seed; the ledger's rule for this claim reads the same interval)"
)

# %% [markdown]
# ## 5. What the reference implementation gets wrong, measured
#
# The authors' released solver (spec of this book, section 7) runs **6 ADMM iterations** with
# $\rho = 10^{-4}$, 32 PCG iterations and Nystrom rank 20, and keeps the **PCG iterate $u$** as the head, not the
# group-sparse prox iterate $v$. (Its Nystrom step also returns NaN under JAX 0.10; this book's solver is
# PyTorch, with the small dense algebra in float64, so that failure cannot be reproduced here, only
# avoided.) On the same IMDb training features and patterns we compare four heads: the reference settings
# and this book's run above, each read at the prox iterate and at the PCG iterate. For each: the convex
# objective, the relative cone violation $\|(-Gu)_+\|/\|Gu\|$, the objective of the recovered ReLU network,
# the relative gap between the convex model's predictions and the recovered network's, the neurons, and
# the recovered network's training accuracy.

# %%
paper_config = CronosConfig.paper(P=P, beta=beta, seed=seed)
reference_run = fit_cronos(X_train, y_train, paper_config, patterns=head.patterns)
cronos_run = fit_cronos(
    X_train,
    y_train,
    CronosConfig(
        P=P, beta=beta, method="cronos", max_iters=300, tol=phase1_tol, seed=seed
    ),
    patterns=head.patterns,
)
comparison = ex.iterate_comparison(
    {
        "reference settings (6 iters, rho 1e-4)": reference_run,
        "CRONOS, book settings (300 iters)": cronos_run,
        f"default solver ({head.method}, {head.iterations} steps)": head,
    },
    X_train,
    y_train,
)
readable(comparison.drop(columns="iterations"), significant=4)

# %% [markdown]
# **The Table 7 question: optimum or early stopping?** The same three fits by their certificates and the
# held-out accuracy of the recovered network, next to the AdamW head of section 4: does the accuracy come
# from solving the program, or from stopping early?

# %%
# NBVAL_CHECK_OUTPUT
table7_question = ex.certificate_table(
    {
        "paper's setting (6 ADMM iters, PCG iterate)": reference_run,
        "CRONOS, book settings (300 iters)": cronos_run,
        f"default solver ({head.method})": head,
    },
    X_test,
    y_test,
)
display(
    readable(
        table7_question.drop(columns=["seconds", "primal", "lower_bound"]),
        formats={
            "certified_gap": "{:.1e}",
            "cone_violation": "{:.1e}",
            "test_accuracy": "{:.3f}",
        },
    )
)
print(f"AdamW head (wd 0.01), same width: test accuracy {ours['AdamW (wd 0.01)']:.3f}")

# %% [markdown]
# How to read it: the PCG iterate $u$ is dense (every group nonzero, so all $2P$ neurons are kept) and,
# not being the projected iterate, violates the cones; then the recovered ReLU network is not the convex
# model, and its objective is the number that matters for the deployed head. The prox iterate's neurons
# are exactly the groups the penalty selected, and its recovered network reproduces the convex model up
# to the remaining cone violation. With $\rho = 10^{-4}$ the group threshold $\beta/\rho$ is so large that after
# six iterations the prox iterate is still exactly zero; the head the reference code keeps is then the PCG
# iterate, whose small convex objective is not what its recovered ReLU network achieves. (The default
# solver's certificate, printed in section 4 and in the table below, says how far from the optimum it is.)
#
# **The Table 7 question on the default CPU run.** The table above puts the certified optimum (the default
# solver), CRONOS after 300 iterations and the paper's 6-iteration setting at the same held-out accuracy,
# 0.665, and the AdamW head of section 4 above all three at 0.728 (400 test reviews: a difference of 6
# points, about two standard errors). On these features neither solving the program to its optimum nor
# stopping early buys held-out accuracy, and the paper's ordering, CRONOS ahead of AdamW, does not appear
# at this scale; the ledger's head-accuracy claim reads the interval printed in section 4.
#
# **References.** M. Feng, Z. Frangella and M. Pilanci, *CRONOS: Enhancing deep learning with scalable
# GPU accelerated convex neural networks*, NeurIPS 2024. Z. Frangella, J. A. Tropp and M. Udell,
# *Randomized Nyström preconditioning*, SIAM J. Matrix Anal. Appl., 2023. S. Boyd, N. Parikh, E. Chu,
# B. Peleato and J. Eckstein, *Distributed optimization and statistical learning via the alternating
# direction method of multipliers*, 2011. A. L. Maas et al., *Learning word vectors for sentiment
# analysis*, ACL 2011 (IMDb). M. Feng and M. Pilanci, *Convex Optimization for Alignment and Preference
# Learning on a Single GPU*, ICML 2026 (COALA), Table 7.

# %% [markdown]
# Recorded for the claims ledger.

# %%
from coala_lib.claims import ledger, round_sig

recorded = ledger.record(
    "02_cronos_solver",
    values={
        "interior_point_optimum": round_sig(f_star),
        "cronos_gap": {
            name: round_sig(frame["objective_gap"].iloc[-1])
            for name, frame in convergence.groupby("run", sort=False)
        },
        "cronos_accuracy": round_sig(ours["convex head"]),
        "adamw_accuracy": round_sig(ours["AdamW (wd 0.01)"]),
        "adam_accuracy": round_sig(ours["Adam (same objective)"]),
        "n_test": n_test,
        "cronos_converged": bool(head.converged),
        "cronos_iterations": int(head.iterations),
        "phase1_method": head.method,
        "phase1_certified_gap": round_sig(head.certificate.relative_gap),
        "phase1_cone_violation": round_sig(head.certificate.cone_violation_rel),
        "phase1_certified": bool(head.certified),
        "paper_variant_certified_gap": round_sig(
            reference_run.certificate.relative_gap
        ),
        "paper_variant_accuracy": round_sig(
            float(table7_question["test_accuracy"].iloc[0])
        ),
        "default_solver_accuracy": round_sig(
            float(table7_question["test_accuracy"].iloc[2])
        ),
    },
    params={
        "seed": seed,
        "device": device,
        "data_dir": data_dir,
        "synth_n": synth_n,
        "synth_d": synth_d,
        "synth_decay": synth_decay,
        "synth_P": synth_P,
        "synth_beta": synth_beta,
        "nystrom_ranks": nystrom_ranks,
        "convergence_iters": convergence_iters,
        "rho_values": rho_values,
        "n_train": n_train,
        "n_test": n_test,
        "max_length": max_length,
        "P": P,
        "beta": beta,
        "cronos_iters": cronos_iters,
        "phase1_tol": phase1_tol,
        "adam_lr": adam_lr,
        "adam_step_grid": adam_step_grid,
    },
)
print("recorded:", recorded and f"claims/{recorded.name}")  # relative: no machine path
