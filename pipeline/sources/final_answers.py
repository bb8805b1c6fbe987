"""The final answer a solution states: ``#### N`` (GSM8K), ``\\boxed{}`` (MATH), "The answer
is: N" (MetaMathQA), or the last number written."""

from __future__ import annotations

import re


def boxed_answer(solution: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces matched."""
    start = max(solution.rfind("\\boxed"), solution.rfind("\\fbox"))
    if start < 0:
        return None
    opening = solution.find("{", start)
    if opening < 0:
        return None
    depth = 0
    for at in range(opening, len(solution)):
        depth += {"{": 1, "}": -1}.get(solution[at], 0)
        if depth == 0:
            return solution[opening + 1:at].strip()
    return None


_ANSWER_IS_RE = re.compile(r"answer is:?\s*\$?(?P<answer>[^\n]+?)\$?\s*\.?\s*$", re.I)


NUMBER_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")


def final_answer(solution: str, last_number: bool = False) -> str | None:
    """The solution's stated final answer: ``#### N`` (GSM8K), ``\\boxed{}`` (MATH), "The
    answer is: N" (MetaMathQA), or, where allowed, the last number written."""
    _, marker, final = solution.rpartition("####")
    if marker:  # its own line: MetaMathQA writes "#### 24\nThe answer is: 24" after it
        return (final.strip().splitlines() or [""])[0].strip().replace(",", "") or None
    boxed = boxed_answer(solution)
    if boxed:
        return boxed
    stated = _ANSWER_IS_RE.search(solution.strip())
    if stated:
        answer = stated["answer"].strip()
        return answer.replace(",", "") if NUMBER_RE.fullmatch(answer) else answer
    numbers = NUMBER_RE.findall(solution) if last_number else []
    return numbers[-1].replace(",", "") if numbers else None
