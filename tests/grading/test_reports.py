"""HTML reports and the class overview, rendered from stored results (no kernel needed)."""

from checks.cli import main
from checks.grading.results import CheckResult
from checks.publish.publisher import publish
from tests.grading.stored_results import write_student


def test_reports_and_overview_render_from_stored_results(tmp_path):
    write_student(
        tmp_path,
        "Asha_R1",
        [
            CheckResult("preprocess_shape", "1.2", "shape", 2, score=2, status="passed"),
            CheckResult("preprocess_values", "1.2", "values", 2, score=2, status="passed"),
        ],
    )
    write_student(
        tmp_path,
        "Bela_R2",
        [
            CheckResult(
                "preprocess_shape",
                "1.2",
                "shape",
                2,
                status="failed",
                message="preprocess returned shape (3, 224, 224)",
                expected="(1, 3, 224, 224)",
                found="(3, 224, 224)",
                cause="the starter code forgets `.unsqueeze(0)`",
            ),
            CheckResult(
                "viridis_layout",
                "1.5",
                "layout",
                2,
                score=2,
                status="passed",
                figures=["figure-001.png"],
                references=[{"png": "reference-viridis.png", "caption": "reference map for the image"}],
            ),
        ],
        flags=["printed accuracy 99.50% but the grader measured 10.00%"],
        answer="<script>alert('x')</script> Gray is clearest.",
    )
    write_student(tmp_path, "Dev_R4", [], problem="invalid submission: broken.ipynb is empty")
    assert main(["report", str(tmp_path)]) == 0
    bela = (tmp_path / "Bela_R2" / "report.html").read_text()
    assert "forgets <code>.unsqueeze(0)</code>" in bela and "Expected: <code>(1, 3, 224, 224)</code>" in bela
    assert "&lt;script&gt;alert" in bela and "<script>alert" not in bela
    assert '<a href="../index.html">Class overview</a>' in bela and '<a href="executed.ipynb">' in bela
    assert 'name="viewport"' in bela and "[preprocess_shape]" in bela
    task_15 = bela[bela.index('id="task-1.5"') : bela.index('id="task-1.6"')]
    assert "cell 8 — tabby cat (judged by a check)" in task_15 and 'src="figures/web/figure-001.' in task_15
    assert 'alt="reference: reference map for the image"' in task_15 and 'src="../reference-figures/' in task_15
    assert "data:image" not in bela and 'loading="lazy"' in task_15
    other = bela[bela.index("Other figures") :]
    assert "cell 13 — stray" in other and "tabby cat" not in other
    log = bela[bela.index('id="cells"') :]
    assert 'id="cell-1"' in log and "cell 2 (In [1])" in log and "ZeroDivisionError: division by zero" in log
    assert "<code>pip install torch</code>" in log and "pip pip" not in log
    assert "Expected 2-3 sentences; found 2 in cell 10" in bela
    single = (tmp_path / "Bela_R2" / "report-single.html").read_text()
    assert single.count("data:image/") >= 3 and "../reference-figures" not in single and "Class overview" not in single
    assert "0 of 1 automatic checks passed." in bela[bela.index('id="task-1.2"') :]
    asha = (tmp_path / "Asha_R1" / "report.html").read_text()
    assert 'passed: shape <span class="check-id">[preprocess_shape]</span>; values <span class="check-id">' in asha
    assert 'id="problem"' in (tmp_path / "Dev_R4" / "report.html").read_text()
    index = (tmp_path / "index.html").read_text()
    for student in ("Asha_R1", "Bela_R2", "Dev_R4"):
        assert f'<a href="{student}/report.html">{student}</a>' in index
    assert "printed accuracy 99.50%" in index and "broken.ipynb is empty" in index
    assert "1.2 shape: preprocess returned shape (3, 224, 224)" in index
    assert "<td>2.8</td><td>Failure analysis</td><td>0.0 / 5</td><td>written only (TA)</td>" in index
    assert "<td>1.2</td><td>preprocess(pil_img)</td><td>2.0 / 4</td><td>50%</td>" in index
    assert (tmp_path / "grades.csv").read_text().count("\n") == 4
    assert "0 of 3 totals final" in index and "48 marks pending" in index and ">4+?</td>" in index


def test_report_on_a_folder_without_results_says_so(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "grade the class first" in capsys.readouterr().err


def test_publish_returns_every_stored_result(tmp_path):
    write_student(tmp_path, "Asha_R1", [])
    assert [p["student"] for p in publish(tmp_path).finals] == ["Asha_R1"]


def test_a_corrupt_stored_result_is_named(tmp_path, capsys):
    write_student(tmp_path, "Asha_R1", [])
    (tmp_path / "Asha_R1" / "results.json").write_text("{trunc")
    assert main(["report", str(tmp_path)]) == 2
    assert "Asha_R1/results.json cannot be read" in capsys.readouterr().err
