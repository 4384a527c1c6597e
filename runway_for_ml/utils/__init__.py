"""The original ``runway_for_ml.utils`` package, for code written for the original framework.

Paths with an equivalent here re-export it (``utils.eval_recorder.EvalRecorder``,
``utils.global_variables.register_executor``, ``utils.util.get_tokenizer``); the others raise an
ImportError naming the new home (:mod:`runway_for_ml.original_paths`). New code imports from
``runway_for_ml``.
"""
