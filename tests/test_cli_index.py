#!/usr/bin/env python3
"""`vlm index`, `vlm search` and `vlm watch` end to end.

A short video is written at test time with GStreamer: three 3-second blocks
of solid red, blue and green (videotestsrc, vp8enc + webmmux from
gst-plugins-good; jpegenc + avimux when vp8enc is missing). The tiny random
CLIP checkpoint cannot tell colours by name, so the tests check mechanics
and consistency, not accuracy:

* index: rows (one per second), unit-norm float32 blobs, schema version,
  application id; re-running skips; a changed file is re-indexed;
* search: the best segment's score and time equal the cosine computed here
  from the stored embeddings and `vlm embed-text`; segments lie on the
  colour blocks, inside the video, without overlaps, best first; table and
  JSON output;
* resume: a run killed with SIGKILL keeps its finished video and committed
  frames, and the next run resumes; SIGINT stops cleanly (exit 130);
* migration: a schema-version-1 file is migrated with a message;
* bad input (unreadable video, missing file, empty query, damaged database,
  text file as database, different model): clear errors, exit status ≠ 0,
  database contents (or bytes) unchanged;
* progress bar on a terminal, none otherwise;
* watch: appear/disappear events at the block boundaries the stored scores
  predict, on a file, on a live --pipeline source and on an RTSP stream
  (gst-rtsp-server in a child process; skipped without
  gir1.2-gst-rtsp-server-1.0);
* captions (when the tiny GIT checkpoint and vlmcaption are there).

Environment: VLM_CLI (the vlm binary), VLM_TEST_MODEL (tiny CLIP),
VLM_TEST_GIT_MODEL (tiny GIT, optional), GST_PLUGIN_PATH.
"""

import json
import os
import pty
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

VLM = os.environ.get("VLM_CLI", "vlm")
MODEL = os.environ["VLM_TEST_MODEL"]
GIT_MODEL = os.environ.get("VLM_TEST_GIT_MODEL")
HERE = Path(__file__).resolve().parent
BLOCK_S = 3
COLOURS = ("red", "blue", "green")

failures = []


def check(cond, what):
    if cond:
        print(f"ok - {what}")
    else:
        print(f"FAIL - {what}")
        failures.append(what)
    return cond


def vlm(*args, timeout=120, **kw):
    p = subprocess.run([VLM, *args], capture_output=True, text=True, timeout=timeout, **kw)
    return p.returncode, p.stdout, p.stderr


def have_element(name):
    # (not --exists: it also compares the plugin's version with GStreamer's)
    return subprocess.run(["gst-inspect-1.0", name], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def encoder():
    if have_element("vp8enc") and have_element("webmmux"):
        return "vp8enc deadline=1 ! webmmux", "webm"
    return "jpegenc ! avimux", "avi"


def write_blocks(path_stem, colours, seconds, fps=10, size=(64, 48)):
    enc, ext = encoder()
    out = f"{path_stem}.{ext}"
    caps = f"video/x-raw,width={size[0]},height={size[1]},framerate={fps}/1"
    srcs = " ".join(f"videotestsrc pattern={c} num-buffers={seconds * fps} ! {caps} ! c."
                    for c in colours)
    cmd = (f"gst-launch-1.0 -q concat name=c ! videoconvert ! {enc} ! "
           f"filesink location={out} {srcs}")
    subprocess.run(cmd, shell=True, check=True, timeout=120)
    return out


def write_long(path_stem, seconds, fps=2):
    enc, ext = encoder()
    out = f"{path_stem}.{ext}"
    cmd = (f"gst-launch-1.0 -q videotestsrc pattern=ball num-buffers={seconds * fps} ! "
           f"video/x-raw,width=64,height=48,framerate={fps}/1 ! videoconvert ! {enc} ! "
           f"filesink location={out}")
    subprocess.run(cmd, shell=True, check=True, timeout=300)
    return out


def db_rows(db):
    con = sqlite3.connect(db)
    try:
        videos = con.execute("SELECT uri, complete, size, mtime_ns, every_ns, indexed_at "
                             "FROM videos ORDER BY id").fetchall()
        frames = con.execute("SELECT video_id, pts_ns, embedding, caption FROM frames "
                             "ORDER BY video_id, pts_ns").fetchall()
    finally:
        con.close()
    return videos, frames


def embeddings(db):
    _, frames = db_rows(db)
    pts = np.array([f[1] for f in frames]) / 1e9
    emb = np.stack([np.frombuffer(f[2], dtype="<f4") for f in frames])
    return pts, emb


def embed_text(text, model=MODEL):
    rc, out, err = vlm("embed-text", "--model", model, text)
    assert rc == 0, err
    return np.array(json.loads(out)["texts"][0]["embedding"], dtype=np.float32)


def search_json(db, text, *extra):
    rc, out, err = vlm("search", "--db", db, text, "--json", *extra)
    if rc != 0:
        return rc, None, err
    return rc, json.loads(out), err


def test_index_and_search(tmp, video):
    db = str(tmp / "index.db")
    rc, out, err = vlm("index", video, "--db", db, "--model", MODEL)
    check(rc == 0 and "indexed" in out, f"index exits 0 and says so ({rc}, {out!r}, {err!r})")
    check(err == "", "index is quiet on stderr without a terminal (no progress bar)")
    con = sqlite3.connect(db)
    check(con.execute("PRAGMA user_version").fetchone()[0] == 2, "schema version 2")
    check(con.execute("PRAGMA application_id").fetchone()[0] == 0x564C4D49, "application id")
    check(con.execute("PRAGMA journal_mode").fetchone()[0] == "wal", "WAL journal")
    dim = int(con.execute("SELECT value FROM meta WHERE key='dimension'").fetchone()[0])
    con.close()
    videos, frames = db_rows(db)
    check(len(videos) == 1 and videos[0][1] == 1, "one complete video")
    check(videos[0][0] == Path(video).resolve().as_uri(), "the video's URI is stored")
    pts, emb = embeddings(db)
    n_blocks = len(COLOURS)
    check(len(frames) == n_blocks * BLOCK_S, f"one frame a second ({len(frames)})")
    check(np.allclose(pts, np.arange(len(frames))), f"frame times 0, 1, 2 … s ({pts})")
    check(emb.shape[1] == dim and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4),
          "embeddings are unit-norm float32 of the model's dimension")

    # re-running skips and changes nothing
    before = db_rows(db)
    rc, out, _ = vlm("index", video, "--db", db)
    check(rc == 0 and "skipped" in out, f"re-index skips ({out!r})")
    check(db_rows(db) == before, "re-index leaves the database unchanged")

    # search: the best frame is the one numpy finds
    for text in ("a red square", "a blue square", "something green"):
        q = embed_text(text)
        cos = emb @ q
        rc, res, err = search_json(db, text, "--top", "3")
        if not check(rc == 0 and res, f"search \"{text}\" ({err!r})"):
            continue
        segs = res["segments"]
        best = segs[0]
        check(abs(best["score"] - cos.max()) < 1e-4,
              f"best score = max cosine ({best['score']:.6f} vs {cos.max():.6f})")
        check(abs(best["best_time"] - pts[int(np.argmax(cos))]) < 1e-6,
              "best frame = argmax of cosine")
        check(res["frames_searched"] == len(frames), "every frame searched")
        ok_times = all(0 <= s["start"] < s["end"] <= n_blocks * BLOCK_S + 1e-6 for s in segs)
        check(ok_times, f"segments inside the video, start < end ({segs})")
        on_blocks = all(abs(s["start"] / BLOCK_S - round(s["start"] / BLOCK_S)) < 1e-6 and
                        abs(s["end"] / BLOCK_S - round(s["end"] / BLOCK_S)) < 1e-6
                        for s in segs)
        check(on_blocks, "segments begin and end on the colour blocks")
        spans = sorted((s["start"], s["end"]) for s in segs)
        check(all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), "segments do not overlap")
        check(all(a["score"] >= b["score"] for a, b in zip(segs, segs[1:])), "best first")
        check(all(s["start"] <= s["best_time"] < s["end"] for s in segs),
              "each best frame lies in its segment")
    rc, out, _ = vlm("search", "--db", db, "a", "red", "square", "--top", "2")
    check(rc == 0 and "start" in out and "score" in out and out.count("\n") >= 3,
          f"table output ({out!r})")
    rc, res, _ = search_json(db, "a red square", "--top", "1")
    check(rc == 0 and len(res["segments"]) == 1, "--top 1 gives one segment")

    # a changed file is indexed again
    os.utime(video, None)
    rc, out, _ = vlm("index", video, "--db", db)
    check(rc == 0 and "re-indexing" in out and "the file changed" in out,
          f"a touched file is re-indexed ({out!r})")
    check(len(db_rows(db)[1]) == len(frames), "re-indexing replaces, not duplicates, frames")
    return db


def test_bad_input(tmp, db, video):
    contents = db_rows(db)

    junk = tmp / "junk.mp4"
    junk.write_bytes(os.urandom(4096))
    rc, _, err = vlm("index", str(junk), "--db", db)
    check(rc == 1 and "junk.mp4" in err and "cannot index" in err,
          f"unreadable video: clear error ({err!r})")
    rc, _, err = vlm("index", str(tmp / "missing.webm"), "--db", db)
    check(rc == 1 and "missing.webm" in err and "No such file" in err,
          f"missing video: clear error ({err!r})")
    rc, out, err = vlm("index", str(junk), video, "--db", db)
    check(rc == 1 and "skipped" in out and "1 failed" in out,
          "a bad video does not stop the others")
    check(db_rows(db) == contents, "bad videos leave the database unchanged")

    rc, _, err = vlm("search", "--db", db, "  ")
    check(rc == 2 and "empty" in err, f"empty query refused ({err!r})")
    rc, _, err = vlm("search", "--db", db, "x", "--top", "0")
    check(rc == 2 and "--top" in err, "--top 0 refused")
    rc, _, err = vlm("search", "--db", str(tmp / "nope.db"), "x")
    check(rc == 1 and "nope.db" in err and "no such index" in err,
          f"missing database ({err!r})")
    check(not (tmp / "nope.db").exists(), "search does not create a database")

    text = tmp / "notes.db"
    text.write_text("not a database\n" * 20)
    before = text.read_bytes()
    for cmd in (["search", "--db", str(text), "x"],
                ["index", video, "--db", str(text), "--model", MODEL]):
        rc, _, err = vlm(*cmd)
        check(rc == 1 and "notes.db" in err and "not an index" in err,
              f"{cmd[0]}: a text file as database refused ({err!r})")
    check(text.read_bytes() == before, "the text file is untouched")

    damaged = tmp / "damaged.db"
    shutil.copy(db, damaged)
    data = bytearray(damaged.read_bytes())
    rng = np.random.default_rng(1)
    data[16384:] = rng.integers(0, 256, len(data) - 16384, dtype=np.uint8).tobytes()
    damaged.write_bytes(bytes(data))
    before = damaged.read_bytes()
    for cmd in (["search", "--db", str(damaged), "x"],
                ["index", video, "--db", str(damaged)]):
        rc, _, err = vlm(*cmd)
        check(rc == 1 and "damaged.db" in err and ("damaged" in err or "malformed" in err),
              f"{cmd[0]}: a damaged database gives a clear error ({err!r})")
    check(damaged.read_bytes() == before, "the damaged file is not modified")

    other = tmp / "other-clip"
    subprocess.run([sys.executable, str(HERE.parent / "models" / "make_clip_checkpoint.py"),
                    str(other), "--preset", "tiny", "--seed", "8"], check=True,
                   capture_output=True, timeout=300)
    rc, _, err = vlm("search", "--db", db, "x", "--model", str(other))
    check(rc == 1 and str(other) in err and str(Path(MODEL).resolve()) in err,
          f"search with another model refused, naming both ({err!r})")
    rc, _, err = vlm("index", video, "--db", db, "--model", str(other))
    check(rc == 1 and str(other) in err, f"index with another model refused ({err!r})")
    check(db_rows(db) == contents, "model mismatches leave the database unchanged")

    fresh = tmp / "fresh.db"
    rc, _, err = vlm("index", video, "--db", str(fresh),
                     env=dict(os.environ, VLM_DEMO_MODELS=str(tmp / "no-demo-models")))
    check(rc == 1 and "--model" in err and "no-demo-models" in err,
          f"a new index needs --model or the demo CLIP ({err!r})")
    rc, _, err = vlm("index", video, "--db", db, "--every", "0")
    check(rc == 2 and "--every" in err, "--every 0 refused")
    # --captions without --caption-model: the demo GIT, here made absent
    nodemo = dict(os.environ, VLM_DEMO_MODELS=str(tmp / "no-demo-models"))
    rc, _, err = vlm("index", video, "--db", db, "--captions", env=nodemo)
    check(rc == 2 and "--caption-model" in err and "no-demo-models" in err,
          f"--captions without --caption-model nor demo GIT ({err!r})")
    check(db_rows(db) == contents, "option errors leave the database unchanged")


def frame_count(db, uri):
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        n = con.execute("SELECT COUNT(*) FROM frames JOIN videos ON videos.id = video_id "
                        "WHERE uri = ?", (uri,)).fetchone()[0]
        con.close()
        return n
    except sqlite3.Error:
        return 0


def test_resume(tmp, short):
    long_video = write_long(str(tmp / "long"), 600)
    uri = Path(long_video).resolve().as_uri()
    every = "0.5"
    full_db = str(tmp / "full.db")
    rc, _, err = vlm("index", long_video, "--db", full_db, "--model", MODEL, "--every", every,
                     timeout=300)
    check(rc == 0, f"uninterrupted run ({err!r})")
    full_videos, full = db_rows(full_db)

    db = str(tmp / "killed.db")
    p = subprocess.Popen([VLM, "index", short, long_video, "--db", db, "--model", MODEL,
                          "--every", every, "--batch", "16"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while frame_count(db, uri) < 64 and p.poll() is None and time.time() - t0 < 120:
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.communicate()
    videos, frames = db_rows(db)
    check(len(videos) == 2 and videos[0][1] == 1, "killed run: the finished video is complete")
    n_long = sum(1 for f in frames if f[0] == 2)
    check(videos[1][1] == 0 and 64 <= n_long < len(full),
          f"killed run: the second video is partial with its committed frames ({n_long})")
    con = sqlite3.connect(db)
    check(con.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "killed run: intact")
    con.close()
    rc, out, err = vlm("index", short, long_video, "--db", db, "--every", every, timeout=300)
    check(rc == 0 and "skipped" in out and "resuming" in out,
          f"the next run skips the finished and resumes the partial video ({out!r})")
    _, frames = db_rows(db)
    long_frames = [(f[1], f[2]) for f in frames if f[0] == 2]
    full_frames = [(f[1], f[2]) for f in full]
    check([t for t, _ in long_frames] == [t for t, _ in full_frames],
          "resumed: the same frame times as an uninterrupted run")
    same = all(np.allclose(np.frombuffer(a, "<f4"), np.frombuffer(b, "<f4"), atol=1e-5)
               for (_, a), (_, b) in zip(long_frames, full_frames))
    check(same, "resumed: the same embeddings as an uninterrupted run")

    # SIGINT: a clean stop, exit 130, frames kept
    db2 = str(tmp / "interrupted.db")
    p = subprocess.Popen([VLM, "index", long_video, "--db", db2, "--model", MODEL,
                          "--every", every, "--batch", "16"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while frame_count(db2, uri) < 32 and p.poll() is None and time.time() - t0 < 120:
        time.sleep(0.01)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    check(p.returncode == 130 and "interrupted" in out,
          f"SIGINT: exit 130 with a message ({p.returncode}, {out!r}, {err!r})")
    videos, frames = db_rows(db2)
    check(videos[0][1] == 0 and len(frames) >= 32, "SIGINT: partial video with its frames")


def test_migration(tmp, db, video):
    """A version-1 file (the first layout) is migrated when opened."""
    old = str(tmp / "v1.db")
    con = sqlite3.connect(old)
    con.executescript("""
        PRAGMA page_size = 16384;
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE videos (id INTEGER PRIMARY KEY, uri TEXT NOT NULL UNIQUE, path TEXT,
          size INTEGER, mtime_ns INTEGER, duration_ns INTEGER,
          complete INTEGER NOT NULL DEFAULT 0, indexed_at TEXT);
        CREATE TABLE frames (video_id INTEGER NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
          pts_ns INTEGER NOT NULL, embedding BLOB NOT NULL, caption TEXT);
        CREATE UNIQUE INDEX frames_by_time ON frames (video_id, pts_ns);
        PRAGMA application_id = 1447841097;
        PRAGMA user_version = 1;
    """)
    src = sqlite3.connect(db)
    con.executemany("INSERT INTO meta VALUES (?, ?)", src.execute("SELECT * FROM meta"))
    con.executemany("INSERT INTO videos VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    src.execute("SELECT id, uri, path, size, mtime_ns, duration_ns, complete, "
                                "indexed_at FROM videos"))
    con.executemany("INSERT INTO frames VALUES (?, ?, ?, ?)", src.execute("SELECT * FROM frames"))
    con.commit()
    con.close()
    src.close()
    rc, res, err = search_json(old, "a red square")
    check(rc == 0 and "migrated" in err and "from schema version 1 to 2" in err,
          f"a version-1 index is migrated with a message ({err!r})")
    rc2, res2, _ = search_json(db, "a red square")
    check(rc == 0 and rc2 == 0 and res["segments"][0]["score"] == res2["segments"][0]["score"],
          "the migrated index answers like the original")
    con = sqlite3.connect(old)
    check(con.execute("PRAGMA user_version").fetchone()[0] == 2, "now at version 2")
    check(con.execute("SELECT every_ns FROM videos").fetchone()[0] == 1_000_000_000,
          "the sampling interval is recovered from the frame times")
    con.close()
    rc, out, _ = vlm("index", video, "--db", old)
    check(rc == 0 and "skipped" in out, "a migrated index still skips what it holds")

    con = sqlite3.connect(old)
    con.execute("PRAGMA user_version = 7")
    con.close()
    rc, _, err = search_json(old, "x")
    check(rc == 1 and "version 7" in err and "newer" in err, f"a newer schema is refused ({err!r})")


def test_progress(tmp, video):
    db = str(tmp / "progress.db")
    master, slave = pty.openpty()
    p = subprocess.Popen([VLM, "index", video, "--db", db, "--model", MODEL, "--every", "0.1"],
                         stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    p.wait(timeout=120)
    os.close(master)
    tty = b"".join(chunks).decode(errors="replace")
    check(p.returncode == 0 and "%" in tty and "frames/s" in tty and "\r" in tty,
          f"progress bar on a terminal ({tty[-200:]!r})")


def test_watch(tmp, db, video):
    pts, emb = embeddings(db)
    text = "a red square"
    cos = emb @ embed_text(text)
    block = cos.reshape(len(COLOURS), BLOCK_S).mean(axis=1)
    order = np.argsort(-block)
    # a threshold only the best block reaches
    thr = float((block[order[0]] + block[order[1]]) / 2)
    rc, out, err = vlm("watch", video, text, "--model", MODEL, "--threshold", f"{thr:.6f}",
                       "--hysteresis", "0", "--json")
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    first = int(order[0])
    want_start = first * BLOCK_S
    check(rc == 0 and len(events) == 2, f"watch: two events ({rc}, {out!r}, {err!r})")
    if len(events) == 2:
        a, d = events
        check(a["event"] == "appear" and abs(a["time"] - want_start) < 1e-6,
              f"appears at the start of the {COLOURS[first]} block ({a})")
        if first == len(COLOURS) - 1:
            check(d["event"] == "disappear" and d["reason"] == "eos", f"ends at EOS ({d})")
        else:
            check(d["event"] == "disappear" and d["reason"] == "below-threshold" and
                  abs(d["time"] - want_start - BLOCK_S) < 1e-6,
                  f"disappears at the end of the block ({d})")
    # played like a live camera (clocksync + leaky queue): the same events
    rc, out2, err = vlm("watch", video, text, "--model", MODEL, "--threshold", f"{thr:.6f}",
                        "--hysteresis", "0", "--json", "--realtime")
    strip = [{k: v for k, v in json.loads(line).items() if k != "wallclock"}
             for line in out2.splitlines() if line.strip()]
    check(rc == 0 and strip == [{k: v for k, v in e.items() if k != "wallclock"}
                                for e in events],
          f"watch --realtime gives the same events ({strip}, {err!r})")
    rc, out, _ = vlm("watch", video, text, "--model", MODEL, "--threshold", "-1")
    lines = out.splitlines()
    check(rc == 0 and len(lines) == 2 and "appear" in lines[0] and "disappear" in lines[1],
          f"watch: readable lines ({out!r})")
    rc, out, _ = vlm("watch", video, text, "--model", MODEL, "--threshold", "1")
    check(rc == 0 and out == "", "watch: nothing above threshold 1")
    rc, out, err = vlm("watch", "--pipeline",
                       "videotestsrc is-live=true num-buffers=15 pattern=red ! "
                       "video/x-raw,width=64,height=48,framerate=10/1",
                       text, "--model", MODEL, "--threshold", "-1", "--every", "0.2", "--json",
                       timeout=60)
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    check(rc == 0 and [e["event"] for e in events] == ["appear", "disappear"],
          f"watch a live --pipeline source ({rc}, {out!r}, {err!r})")
    rc, _, err = vlm("watch", str(tmp / "missing.webm"), text, "--model", MODEL)
    check(rc == 1 and "missing.webm" in err, f"watch: a missing file ({err!r})")
    rc, _, err = vlm("watch", video, "", "--model", MODEL)
    check(rc == 2 and "empty" in err, "watch: an empty text")
    rc, _, err = vlm("watch", "--pipeline", "nosuchelement ! fakesink", text, "--model", MODEL)
    check(rc == 1 and "nosuchelement" in err, f"watch: a bad --pipeline ({err!r})")


RTSP_SERVER = r"""
import sys
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer
Gst.init(None)
server = GstRtspServer.RTSPServer.new()
server.set_service(sys.argv[1])
factory = GstRtspServer.RTSPMediaFactory.new()
factory.set_launch("( videotestsrc is-live=true pattern=red ! "
                   "video/x-raw,width=64,height=48,framerate=10/1 ! "
                   "vp8enc deadline=1 keyframe-max-dist=10 ! rtpvp8pay name=pay0 pt=96 )")
factory.set_shared(True)
server.get_mount_points().add_factory("/cam", factory)
if server.attach(None) == 0:
    sys.exit(3)
print("ready", flush=True)
GLib.MainLoop().run()
"""


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_watch_rtsp(tmp):
    """A live RTSP camera (gst-rtsp-server in a child process): an appear
    event while it streams, a clean disappear (eos) on Ctrl-C."""
    probe = subprocess.run([sys.executable, "-c", "import gi; gi.require_version("
                            "'GstRtspServer', '1.0'); from gi.repository import GstRtspServer"],
                           capture_output=True)
    if probe.returncode != 0 or not have_element("rtspsrc") or not have_element("vp8enc"):
        print("skip - watch rtsp://: no gir1.2-gst-rtsp-server-1.0, rtspsrc or vp8enc")
        return
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", RTSP_SERVER, str(port)],
                              stdout=subprocess.PIPE, text=True)
    try:
        if not check(server.stdout.readline().strip() == "ready", "RTSP server starts"):
            return
        watch = subprocess.Popen([VLM, "watch", f"rtsp://127.0.0.1:{port}/cam", "a red square",
                                  "--model", MODEL, "--threshold", "-1", "--json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = watch.stdout.readline()  # blocks until the first event
        watch.send_signal(signal.SIGINT)
        rest, err = watch.communicate(timeout=30)
        events = [json.loads(line) for line in (first + rest).splitlines() if line.strip()]
        check(watch.returncode == 0 and [e["event"] for e in events] == ["appear", "disappear"]
              and events[1]["reason"] == "eos",
              f"watch rtsp://: appear while live, disappear on Ctrl-C ({watch.returncode}, "
              f"{events}, {err!r})")
    finally:
        server.kill()
        server.wait()


def test_captions(tmp, video):
    if not GIT_MODEL or not have_element("vlmcaption"):
        print("skip - captions: no tiny GIT checkpoint or no vlmcaption element")
        return
    db = str(tmp / "captions.db")
    rc, out, err = vlm("index", video, "--db", db, "--model", MODEL, "--captions",
                       "--caption-model", GIT_MODEL)
    check(rc == 0, f"index with captions ({err!r})")
    _, frames = db_rows(db)
    check(all(f[3] is not None for f in frames), "every frame has a caption")
    rc, res, _ = search_json(db, "a red square")
    check(rc == 0 and all(isinstance(s["caption"], str) for s in res["segments"]),
          "search shows the best frame's caption")
    best = res["segments"][0]
    want = [f[3] for f in frames if f[1] == round(best["best_time"] * 1e9)]
    check(want and best["caption"] == want[0], "the caption is the best frame's")
    rc, out, _ = vlm("index", video, "--db", db)
    check(rc == 0 and "skipped" in out, "captioned videos are skipped without --captions")


def main():
    with tempfile.TemporaryDirectory(prefix="vlm-cli-index-") as d:
        tmp = Path(d)
        video = write_blocks(str(tmp / "blocks"), COLOURS, BLOCK_S)
        db = test_index_and_search(tmp, video)
        test_bad_input(tmp, db, video)
        test_migration(tmp, db, video)
        test_progress(tmp, video)
        test_watch(tmp, db, video)
        test_watch_rtsp(tmp)
        test_captions(tmp, video)
        test_resume(tmp, video)
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
