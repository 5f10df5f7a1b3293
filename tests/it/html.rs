//! `replay report --html` in a real browser: Debian's Chromium, headless, dumps
//! the DOM of each page (the assertions read it) and takes a screenshot, kept
//! in target/test-artifacts/.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use scraper::{ElementRef, Html, Selector};
use serde_json::Value;

use crate::support::*;

/// How long one Chromium run may take before it is killed.
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(60);

/// Where screenshots (and the pages they show) are kept: target/test-artifacts/.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Debian's Chromium on PATH; a test that needs it fails without it.
fn chromium() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("chromium"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "chromium is not installed: run scripts/setup --test (it installs Debian's chromium; CI does the same)"
            )
        })
}

/// Run Chromium headless on a local page with `args`, in its own process
/// group, with a fresh profile; kill the whole group if it takes too long.
fn run_chromium(page: &Path, args: &[String]) -> Output {
    let profile = tempfile::Builder::new()
        .prefix("replay-chromium-")
        .tempdir()
        .unwrap();
    let mut command = Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let child = command.spawn().unwrap();
    let group = Pid::from_raw(child.id() as i32);
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(child.wait_with_output());
    });
    let output = match receive.recv_timeout(CHROMIUM_DEADLINE) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = killpg(group, Signal::SIGKILL);
            let _ = receive.recv_timeout(Duration::from_secs(10));
            panic!(
                "chromium did not finish {args:?} on {} within {CHROMIUM_DEADLINE:?}: killed",
                page.display()
            );
        }
    };
    // Whatever Chromium started and left behind goes with it. The group id
    // cannot be reused while any member lives, so this reaches only those.
    let _ = killpg(group, Signal::SIGKILL);
    assert!(
        output.status.success(),
        "chromium {args:?} on {} failed ({}): {}",
        page.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The page as the browser built it.
fn dom(page: &Path) -> Html {
    let output = run_chromium(page, &["--dump-dom".to_string()]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("</html>"), "no document dumped: {text}");
    Html::parse_document(&text)
}

/// A screenshot into target/test-artifacts/<name>.png, checked to be a PNG of the window's size.
fn screenshot(page: &Path, name: &str) -> PathBuf {
    let png = artifacts().join(format!("{name}.png"));
    let _ = std::fs::remove_file(&png);
    run_chromium(
        page,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,2000".to_string(),
        ],
    );
    let bytes =
        std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", png.display()));
    assert!(
        bytes.len() > 1000,
        "{} is {} bytes",
        png.display(),
        bytes.len()
    );
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        png.display()
    );
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 2000), "{}", png.display());
    png
}

/// `replay report RECORD --html <artifacts>/<name>.html`; the page's path.
fn render(env: &Env, record: &Path, name: &str) -> PathBuf {
    let page = artifacts().join(format!("{name}.html"));
    let (_, stderr) = env
        .replay()
        .arg("report")
        .arg(record)
        .arg("--html")
        .arg(&page)
        .run_expect(0);
    assert!(stderr.contains("wrote"), "{stderr}");
    page
}

fn select<'a>(dom: &'a Html, selector: &str) -> Vec<ElementRef<'a>> {
    dom.select(&Selector::parse(selector).unwrap()).collect()
}

/// The classes of an element, `cell` first, then the others sorted.
fn classes(element: &ElementRef<'_>) -> Vec<String> {
    let mut classes: Vec<String> = element.value().classes().map(String::from).collect();
    classes.sort_by_key(|c| (c != "cell", c.clone()));
    classes
}

fn text_of(element: &ElementRef<'_>) -> String {
    element.text().collect()
}

/// Every `td.cell` by its `data-cell`, each present once.
fn cells_by_id<'a>(dom: &'a Html) -> HashMap<String, ElementRef<'a>> {
    let mut cells = HashMap::new();
    for cell in select(dom, "td.cell") {
        let id = cell
            .value()
            .attr("data-cell")
            .expect("a cell has data-cell");
        assert!(
            cells.insert(id.to_string(), cell).is_none(),
            "{id} is twice in the page"
        );
        assert!(
            cell.value()
                .attr("title")
                .is_some_and(|t| t.starts_with(id)),
            "{id} has no title"
        );
    }
    cells
}

/// The scenarios of a record's cells, in order, with how many positions
/// (targets × actors) each grid has.
fn expected_grids(cells: &[Value]) -> Vec<(String, usize)> {
    let mut grids: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    for cell in cells {
        let id = cell["id"].as_str().unwrap();
        let parts: Vec<&str> = id.split('/').collect();
        let index = match grids.iter().position(|g| g.0 == parts[0]) {
            Some(index) => index,
            None => {
                grids.push((parts[0].to_string(), vec![], vec![]));
                grids.len() - 1
            }
        };
        let (_, targets, actors) = &mut grids[index];
        if !targets.iter().any(|t| t == parts[1]) {
            targets.push(parts[1].to_string());
        }
        if !actors.iter().any(|a| a == parts[2]) {
            actors.push(parts[2].to_string());
        }
    }
    grids
        .into_iter()
        .map(|(name, targets, actors)| (name, targets.len() * actors.len()))
        .collect()
}

/// One grid per scenario in the order of the cells, each the right size, and
/// every position that is not a cell marked unpinned.
fn assert_grids(dom: &Html, cells: &[Value]) {
    let expected = expected_grids(cells);
    let sections: Vec<String> = select(dom, "section.scenario")
        .iter()
        .map(|s| s.value().attr("data-scenario").unwrap().to_string())
        .collect();
    let names: Vec<String> = expected.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(sections, names);
    for (name, positions) in &expected {
        let grid = select(dom, &format!("table.grid[data-scenario=\"{name}\"]"));
        assert_eq!(grid.len(), 1, "grid of {name}");
        let tds = grid[0]
            .select(&Selector::parse("tbody td").unwrap())
            .count();
        assert_eq!(tds, *positions, "positions of {name}");
    }
    let positions: usize = expected.iter().map(|(_, n)| n).sum();
    assert_eq!(select(dom, "td.unpinned").len(), positions - cells.len());
}

/// A self-contained page: nothing to run, nothing to fetch.
fn assert_self_contained(dom: &Html) {
    for tag in ["script", "link", "img", "iframe", "object", "embed"] {
        assert!(select(dom, tag).is_empty(), "a <{tag}> in the page");
    }
    assert_eq!(select(dom, "head style").len(), 1);
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn status(outcome: &Value) -> String {
    match &outcome["status"] {
        Value::Number(n) => n.to_string(),
        _ => "none".to_string(),
    }
}

#[test]
fn fix_records_in_chromium_mark_the_caught_cells() {
    let env = Env::new("html-fix");
    let dir = repo_root().join("replays/litellm");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut rendered = 0;
    for path in paths {
        let record = read_json(&path);
        if record["kind"] != "fix" {
            continue;
        }
        let short = record["fix"]["short"].as_str().unwrap();
        let name = format!("report-fix-{short}");
        let page = render(&env, &path, &name);
        let dom = dom(&page);
        assert_self_contained(&dom);
        let cells = record["cells"].as_array().unwrap();
        let by_id = cells_by_id(&dom);
        assert_eq!(by_id.len(), cells.len(), "{short}: td.cell");
        for cell in cells {
            let id = cell["id"].as_str().unwrap();
            let element = &by_id[id];
            let class = match cell["transition"].as_str().unwrap() {
                "RED→GREEN" => "caught",
                "GREEN→RED" => "broke",
                "GREEN→GREEN" => "green",
                "RED→RED" => "red",
                _ => "error",
            };
            assert_eq!(classes(element), ["cell", class], "{short}: {id}");
            let shown = text_of(element);
            let change = format!("{} → {}", status(&cell["parent"]), status(&cell["fix"]));
            assert!(shown.starts_with(&change), "{short}: {id} shows {shown:?}");
        }
        let caught: Vec<String> = select(&dom, "td.caught")
            .iter()
            .map(|c| c.value().attr("data-cell").unwrap().to_string())
            .collect();
        let mut expected: Vec<String> = record["transitions"]["red_to_green"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_str().unwrap().to_string())
            .collect();
        let mut sorted = caught.clone();
        sorted.sort();
        expected.sort();
        assert_eq!(sorted, expected, "{short}: caught cells");
        assert_eq!(
            select(&dom, "td.broke").len(),
            record["transitions"]["green_to_red"]
                .as_array()
                .unwrap()
                .len()
        );
        if short == "7d1494a" {
            assert_eq!(caught.len(), 6);
            assert!(caught.iter().all(|id| id.starts_with("key_update/self/")));
        }
        assert_grids(&dom, cells);
        let heading = text_of(&select(&dom, "h1")[0]);
        assert!(
            heading.contains(short) && heading.contains("CAUGHT"),
            "{heading}"
        );
        let header = text_of(&select(&dom, "table.facts")[0]);
        assert!(
            header.contains(record["fix"]["subject"].as_str().unwrap())
                && header.contains(record["parent"]["short"].as_str().unwrap())
                && header.contains(record["revisions"]["mode"].as_str().unwrap()),
            "{header}"
        );
        screenshot(&page, &name);
        rendered += 1;
    }
    assert!(
        rendered >= 4,
        "only {rendered} fix records in {}",
        dir.display()
    );
}

/// Each cell's class is its verdict, it shows the status seen, and the pin where that differs.
fn assert_check_page(dom: &Html, report: &Value) {
    assert_self_contained(dom);
    let cells = report["cells"].as_array().unwrap();
    let by_id = cells_by_id(dom);
    assert_eq!(by_id.len(), cells.len());
    for cell in cells {
        let id = cell["id"].as_str().unwrap();
        let element = &by_id[id];
        let class = match cell["verdict"].as_str() {
            Some("GREEN") => "green",
            Some("RED") => "red",
            Some("ERROR") => "error",
            _ => "not-run",
        };
        assert_eq!(classes(element), ["cell", class], "{id}");
        let shown = text_of(element);
        let seen = status(&cell["outcome"]);
        let pinned = cell["pin"]["status"].to_string();
        if class == "green" || class == "red" {
            assert!(shown.starts_with(&seen), "{id} shows {shown:?}");
        }
        assert_eq!(
            shown.contains(&format!("pinned {pinned}")),
            seen != pinned,
            "{id} shows {shown:?}"
        );
    }
    assert_grids(dom, cells);
    let summary = &report["summary"];
    let header = text_of(&select(dom, "table.facts")[0]);
    for (count, word) in [
        ("cells", "cells"),
        ("green", "GREEN"),
        ("red", "RED"),
        ("error", "ERROR"),
    ] {
        let expected = format!("{} {word}", summary[count]);
        assert!(header.contains(&expected), "{expected} not in {header:?}");
    }
    assert!(header.contains(report["suite"]["name"].as_str().unwrap()));
    assert!(header.contains(report["revision"]["label"].as_str().unwrap()));
}

#[test]
fn a_check_of_the_twin_in_chromium_is_all_green() {
    let env = Env::new("html-check");
    let (stdout, _) = env
        .check_suite("matrices/litellm", &["--format", "json"])
        .run_expect(0);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let record = env.tmp.path().join("check.json");
    std::fs::write(&record, &stdout).unwrap();
    env.assert_nothing_left();

    let page = render(&env, &record, "report-check-twin");
    let dom = dom(&page);
    assert_check_page(&dom, &report);
    assert_eq!(
        select(&dom, "td.cell.green").len(),
        report["cells"].as_array().unwrap().len()
    );
    assert!(text_of(&select(&dom, "table.facts")[0]).contains("twin"));
    screenshot(&page, "report-check-twin");
}

#[test]
fn a_check_with_red_cells_in_chromium_shows_their_pins() {
    let env = Env::new("html-check-red");
    // `replay check --rev d8603a6 --cell ...` on the twin's history: the
    // parent of the /key/update fix, 23 cells of which 7 are RED.
    let record = repo_root().join("tests/data/check-d8603a6.json");
    let report = read_json(&record);
    let page = render(&env, &record, "report-check-d8603a6");
    let dom = dom(&page);
    assert_check_page(&dom, &report);
    let red: Vec<&str> = select(&dom, "td.cell.red")
        .iter()
        .map(|c| c.value().attr("data-cell").unwrap())
        .collect();
    assert_eq!(red.len(), 7, "{red:?}");
    assert!(red.contains(&"key_info/owner_key/org_admin"));
    // key_update/owner/owner is not pinned: an actor is not asked about its own key there.
    assert_eq!(select(&dom, "td.unpinned").len(), 1);
    // The differences are listed under the grids too, the cells that fail
    // alike in one group ("RED 2 cells: status 200 (pinned 403)"), each once.
    let members = select(&dom, "ul.notes li.group li");
    assert_eq!(members.len(), 7);
    let groups = select(&dom, "ul.notes li.group");
    let counted: usize = groups
        .iter()
        .map(|g| {
            g.value()
                .attr("data-cells")
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(counted, 7);
    assert!(
        groups
            .iter()
            .any(|g| text_of(g).contains("status 200 (pinned 403)")),
        "{:?}",
        groups.iter().map(text_of).collect::<Vec<_>>()
    );
    screenshot(&page, "report-check-d8603a6");
}

#[test]
fn a_bisect_record_in_chromium_names_each_culprit() {
    let env = Env::new("html-bisect");
    // `replay bisect --good HEAD~37 --bad HEAD` over the twin's whole history.
    let path = repo_root().join("tests/data/bisect-18274e5-f5580bf.json");
    let record = read_json(&path);
    let page = render(&env, &path, "report-bisect");
    let dom = dom(&page);
    assert_self_contained(&dom);
    let answers = record["cells"].as_array().unwrap();
    let by_id = cells_by_id(&dom);
    assert_eq!(by_id.len(), answers.len());
    for answer in answers {
        let id = answer["id"].as_str().unwrap();
        let element = &by_id[id];
        assert_eq!(
            classes(element),
            ["cell", answer["result"].as_str().unwrap()],
            "{id}"
        );
        let change = format!(
            "{} → {}",
            status(&answer["before"]),
            status(&answer["outcome_after"])
        );
        assert_eq!(text_of(element), change, "{id}");
        let row = text_of(&ElementRef::wrap(element.parent().unwrap()).unwrap());
        assert!(
            row.contains(answer["commit"]["short"].as_str().unwrap())
                && row.contains(answer["commit"]["subject"].as_str().unwrap()),
            "{id}: {row}"
        );
    }
    let found_at: Vec<String> = select(&dom, "table.bisect code.sha")
        .iter()
        .map(text_of)
        .collect();
    for short in ["28bdfe9", "aa433f9", "b95d4bf"] {
        assert!(found_at.iter().any(|s| s == short), "{short}: {found_at:?}");
    }
    let header = text_of(&select(&dom, "table.facts")[0]);
    let probes = &record["probes"];
    assert!(
        header.contains(&format!("{} booted", probes["booted"]))
            && header.contains(&format!("bound k × ⌈log2 N⌉ = {}", probes["bound"]))
            && header.contains(&format!("{} commits", record["commits"])),
        "{header}"
    );
    screenshot(&page, "report-bisect");
}

#[test]
fn a_record_that_is_not_a_report_exits_2_and_writes_nothing() {
    let env = Env::new("html-bad");
    let out = env.tmp.path().join("out.html");
    let report = |record: &Path| {
        let mut command = env.replay();
        command.arg("report").arg(record).arg("--html").arg(&out);
        command
    };
    let junit = env.tmp.path().join("junit.json");
    std::fs::write(&junit, r#"{"format_version": 1, "kind": "junit"}"#).unwrap();
    let broken = env.tmp.path().join("broken.json");
    std::fs::write(&broken, "{\"kind\": \"fix\",").unwrap();
    let table = repo_root().join("replays/litellm/README.md");
    for (record, cause) in [
        (&junit, "unknown kind \"junit\""),
        (&broken, "it is not JSON"),
        (&table, "it is not JSON"),
        (&env.tmp.path().join("missing.json"), "cannot read it"),
    ] {
        let (stdout, stderr) = report(record).run_expect(2);
        assert!(stdout.is_empty());
        assert!(
            stderr.starts_with(&format!("error: cannot render {}", record.display()))
                && stderr.contains(cause)
                && stderr.contains("\nhint: "),
            "{stderr}"
        );
        assert!(!out.exists());
    }
}
