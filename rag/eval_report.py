"""A self-contained HTML page of an evaluation run, so failures can be read question by question."""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = """body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;width:100%}
td,th{border:1px solid #ddd;padding:4px 6px;vertical-align:top}th{background:#f4f4f4;text-align:left}
tr.bad{background:#fff1f0}tr.ok{background:#f6ffed}.q{max-width:28em}.a{max-width:40em}code{font-size:12px}"""


def render_html(report: dict[str, Any]) -> str:
    summary = [(k, v) for k, v in report.items() if k not in ("questions",)]
    head = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>" for k, v in summary)
    rows = []
    for q in report["questions"]:
        ok = q["correct"] if q["answerable"] else q["refused"]
        cites = "<br>".join(
            f"<code>{escape(c['source'])} [{c['start']}:{c['end']}]</code> {escape(c['text'])}" for c in q["citations"]
        )
        rows.append(
            f"<tr class={'ok' if ok else 'bad'}><td>{escape(q['id'])}</td><td class=q>{escape(q['question'])}</td>"
            f"<td>{'yes' if q['answerable'] else 'no'}</td><td>{escape(str(q['hit_rank']))}</td>"
            f"<td>{escape(str(q['fact_recall']))}</td><td>{'refused' if q['refused'] else ''}</td>"
            f"<td class=a>{escape(q['answer'])}<br><small>{cites}</small></td>"
            f"<td>{q['ttft_s']:.2f} / {q['total_s']:.2f}</td></tr>"
        )
    return (
        f"<!doctype html><meta charset=utf-8><title>ragqa eval</title><style>{_STYLE}</style>"
        f"<h1>ragqa evaluation</h1><table>{head}</table><h2>Questions</h2><table><tr><th>id</th><th>question</th>"
        "<th>answerable</th><th>hit rank</th><th>fact recall</th><th>refused</th><th>answer + citations</th>"
        f"<th>ttft / total s</th></tr>{''.join(rows)}</table>"
    )
