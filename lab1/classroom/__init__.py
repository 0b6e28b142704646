"""A class: a run packed for handing in (pack), a submission opened as untrusted input
(submission), its checks (checks), and the class view (classview).

May import: lab1, lab1.host, lab1.run, lab1.measure, lab1.compare.within, lab1.report.
"""
