"""Safe ``${{ ... }}`` expressions and templates over a run's state.

The language is a small subset of Python: literals (numbers, strings, lists, tuples, dicts,
sets; ``true``/``false``/``null`` besides ``True``/``False``/``None``), names read from the
scope (``inputs``, ``steps``, ``vars``...), dotted access on mappings
(``steps.fetch.output.id``), ``[]`` indexing and slicing, ``- + not``, ``+ - * / // % **``,
comparisons (chained; ``in``; ``is`` only against ``null``/``true``/``false``),
``and``/``or`` (returning an operand, as in Python), ``a if c else b`` and calls, by bare
name, to :data:`ALLOWED_FUNCTIONS`::

    len(value) min(*values) max(*values) abs(number) round(number, ndigits=null)
    str(value) int(value) float(value) bool(value) sum(values) any(values) all(values)
    sorted(values, reverse=false) list(values) keys(mapping) values(mapping) items(mapping)
    get(container, key, default=null) coalesce(*values) lower(text) upper(text) strip(text)
    startswith(text, prefix) endswith(text, suffix) contains(container, item)
    join(values, sep="") split(text, sep=null) json(value)

``str()``, ``join()`` and template interpolation share one text form: ``null`` is ``""``,
booleans are ``true``/``false``, mappings and lists are compact JSON. Method calls,
comprehensions, lambdas, f-strings, bitwise operators and any name or attribute starting
with ``_`` are refused when the expression is compiled.

Why our own AST whitelist rather than ``simpleeval`` (or ``eval``): user text goes through
``ast.parse`` only, never ``eval``/``exec``/``compile``. Each node is checked against the
whitelist and turned *once* into a closure, so evaluation is a chain of plain calls with no
tree walking: templates are compiled once per definition and rendered on the engine's hot
path, and a constant template costs nothing. Owning the walker also gives exact control of
the allowed set, of the messages (each refusal names the construct and the fix) and of the
run-time bounds, which are checked *before* the costly operation runs: see the ``MAX_*``
constants. Evaluation raises only :class:`ExpressionEvalError`; any other exception,
``RecursionError`` and ``MemoryError`` included, is wrapped.

The private modules, one concept each: ``_limits`` (the ``MAX_*`` bounds and size checks),
``_values`` (text form, copies, key lookup), ``_operators`` (bounded operators and the
refused constructs), ``_functions`` (:data:`ALLOWED_FUNCTIONS` and their arity checks),
``_compiler`` (AST to closures, :class:`Expression`) and ``_templates`` (:class:`Template`
and logpoint messages).
"""

from flowscope.expressions._compiler import (
    Expression,
    compile_condition,
    compile_expression,
    evaluate,
)
from flowscope.expressions._functions import ALLOWED_FUNCTIONS
from flowscope.expressions._limits import (
    MAX_COLLECTION_LENGTH,
    MAX_DEPTH,
    MAX_INT_BITS,
    MAX_NODES,
    MAX_POWER_EXPONENT,
    MAX_SOURCE_LENGTH,
    MAX_STRING_LENGTH,
)
from flowscope.expressions._templates import (
    Template,
    check_braces,
    compile_template,
    interpolate_braces,
    render,
)

__all__ = [
    "ALLOWED_FUNCTIONS", "MAX_COLLECTION_LENGTH", "MAX_DEPTH", "MAX_INT_BITS", "MAX_NODES",
    "MAX_POWER_EXPONENT", "MAX_SOURCE_LENGTH", "MAX_STRING_LENGTH", "Expression", "Template",
    "check_braces", "compile_condition", "compile_expression", "compile_template", "evaluate",
    "interpolate_braces", "render",
]  # fmt: skip
