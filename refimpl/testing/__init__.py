"""Oracle tooling (public API): tolerance tables, assert_close, gradcheck, torch parity helpers."""
from .assert_close import Comparison, assert_close, compare
from .gradcheck import GradcheckReport, gradcheck
from .gradcheck_model import gradcheck_model
from .kernel_tolerance import assert_kernel_within_rule, kernel_error_budget
from .parity import ParityReport, compare_function_with_torch, compare_module_with_torch, to_torch_inputs
from .side_by_side import SideBySideRun, StepRecord, train_side_by_side
from .tolerances import TOLERANCES, tolerance_for

__all__ = ["assert_close", "compare", "Comparison", "gradcheck", "gradcheck_model", "GradcheckReport", "TOLERANCES",
           "tolerance_for", "compare_module_with_torch", "compare_function_with_torch", "ParityReport",
           "to_torch_inputs", "assert_kernel_within_rule", "kernel_error_budget",
           "train_side_by_side", "SideBySideRun", "StepRecord"]
