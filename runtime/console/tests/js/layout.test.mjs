// Unit tests of the console's timeline and graph layouts (web/layout.js),
// run by `node --test` from tests/js.rs.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  formatDuration, splitName, ticks, timelineLayout, overlaps, graphLayout, nodeState, attemptRows,
  manifestEvents, groupOf, stepOrder,
} from "../../web/layout.js";

const run = { created_at: 1000, started_at: 1000, finished_at: null };
const step = (seq, name, kind, status, started_at, ended_at, extra = {}) =>
  ({ seq, name, kind, status, started_at, ended_at, attempts: 1, wake_at: null, ...extra });

test("durations read as a person writes them", () => {
  assert.equal(formatDuration(850), "850ms");
  assert.equal(formatDuration(1500), "1.5s");
  assert.equal(formatDuration(45_000), "45s");
  assert.equal(formatDuration(125_000), "2m 5s");
  assert.equal(formatDuration(3 * 36e5 + 20 * 6e4), "3h 20m");
  assert.equal(formatDuration(2 * 864e5 + 4 * 36e5 + 5000), "2d 4h");
});

test("names split into fan-out branches and keys", () => {
  assert.deepEqual(splitName("price-all[3]/price"), { base: "price-all", key: "3", rest: "price" });
  assert.deepEqual(splitName("ship[a]"), { base: "ship", key: "a", rest: null });
  assert.deepEqual(splitName("charge"), { base: "charge", key: null, rest: null });
  assert.deepEqual(splitName("compensate/charge"), { base: "compensate", key: null, rest: "charge" });
  assert.deepEqual(splitName("outer[1]/inner[2]/x"), { base: "outer", key: "1", rest: "inner[2]/x" });
});

test("ticks are few, evenly spaced and start at zero", () => {
  const out = ticks(0, 10_000);
  assert.ok(out.length >= 3 && out.length <= 9, JSON.stringify(out));
  assert.equal(out[0].label, "0");
  const gaps = out.slice(1).map((tick, i) => tick.offset - out[i].offset);
  assert.ok(gaps.every((gap) => gap === gaps[0]));
  assert.ok(ticks(0, 3 * 36e5).every((tick) => tick.offset % 6e4 === 0));
});

test("a sleep is a wait bar up to its wake time, on the shared axis", () => {
  const steps = [
    step(0, "validate", "run", "completed", 1000, 1100),
    step(1, "cool-off", "sleep", "sleeping", 1100, null, { wake_at: 61_100 }),
  ];
  const layout = timelineLayout(run, steps, { now: 2000, width: 1000, labelWidth: 200 });
  const [work, sleep] = layout.rows.map((row) => row.segments[0]);
  assert.equal(work.type, "work");
  assert.equal(sleep.type, "wait");
  assert.equal(sleep.end, 61_100, "a sleeping step ends at its wake time, not now");
  assert.equal(sleep.open, true);
  assert.equal(layout.until, 61_100, "the axis fits the wake time (zoom to fit)");
  // The sleep takes nearly the whole axis; the work bar is a sliver.
  assert.ok(sleep.w > 700, `sleep ${sleep.w}px`);
  assert.ok(work.w < 10, `work ${work.w}px`);
  assert.equal(sleep.start, work.end, "the sleep starts where the work ended");
  assert.ok(sleep.x > work.x);
  assert.ok(layout.rows[1].y > layout.rows[0].y, "one row per step");
});

test("parallel branches overlap in time and in pixels; sequential steps do not", () => {
  const steps = [
    step(0, "fan", "map", "completed", 1000, 1400),
    step(1, "fan[0]/work", "run", "completed", 1000, 1300),
    step(2, "fan[1]/work", "run", "completed", 1010, 1310),
    step(3, "fan[2]/work", "run", "completed", 1020, 1320),
    step(4, "after", "run", "completed", 1400, 1500),
  ];
  const layout = timelineLayout({ ...run, finished_at: 1500 }, steps, { width: 1000 });
  const bar = (name) => layout.rows.find((row) => row.name === name).segments[0];
  for (const [a, b] of [["fan[0]/work", "fan[1]/work"], ["fan[1]/work", "fan[2]/work"], ["fan[0]/work", "fan[2]/work"]]) {
    assert.ok(overlaps(bar(a), bar(b)), `${a} and ${b} overlap in time`);
    assert.ok(bar(a).x < bar(b).x + bar(b).w && bar(b).x < bar(a).x + bar(a).w, `${a} and ${b} overlap on screen`);
  }
  assert.ok(!overlaps(bar("fan[0]/work"), bar("after")));
  assert.equal(layout.rows.find((row) => row.name === "fan[1]/work").depth, 1);
  assert.equal(bar("fan").type, "group");
});

test("an unfinished step ends now, and tiny steps stay visible inside the drawing", () => {
  const steps = [step(0, "slow", "run", "running", 1000, null), step(1, "now", "now", "completed", 5000, 5000)];
  const layout = timelineLayout(run, steps, { now: 5000, width: 600, labelWidth: 100, minWidth: 4 });
  const slow = layout.rows[0].segments[0];
  assert.equal(slow.end, 5000);
  assert.equal(slow.open, true);
  const instant = layout.rows[1].segments[0];
  assert.equal(instant.w, 4);
  assert.ok(instant.x + instant.w <= layout.x1 + 1e-9);
});

test("a step waiting for its next attempt shows its back-off on its row", () => {
  const steps = [step(0, "charge", "run", "pending", 1000, null, { attempts: 2, wake_at: 9000 })];
  const layout = timelineLayout(run, steps, { now: 3000 });
  const types = layout.rows[0].segments.map((segment) => segment.type);
  assert.deepEqual(types, ["work", "wait"]);
  assert.equal(layout.rows.length, 1, "the attempts and the back-off share the step's row");
  assert.equal(layout.rows[0].attempts, 2);
  const [work, wait] = layout.rows[0].segments;
  // When the last attempt ended is not recorded, only that it was by now.
  assert.equal(work.attempts, 2);
  assert.equal(work.endKnown, false);
  assert.deepEqual([wait.start, wait.end, wait.retry, wait.wake], [3000, 9000, true, 9000]);
  assert.ok(wait.x >= work.x + work.w - 1e-9, "the back-off follows the attempts");
});

const attempt = (n, started_at, ended_at, error = null) => ({ attempt: n, started_at, ended_at, error });

test("a retried step's recorded attempts are segments of its row, the back-offs between them", () => {
  const log = [
    attempt(1, 1000, 1100, { truncated: false, bytes: 4, value: "boom" }),
    attempt(2, 2100, 2200, { truncated: false, bytes: 4, value: "bang" }),
    attempt(3, 3900, 4000),
  ];
  const steps = [
    step(0, "charge", "run", "completed", 1000, 4000, { attempts: 3, attempt_log: log }),
    step(1, "confirm", "run", "completed", 4000, 4100),
  ];
  const layout = timelineLayout(run, steps, { now: 5000 });
  const [charge, confirm] = layout.rows;
  assert.equal(layout.rows.length, 2, "one row per step, the retries on it");
  assert.deepEqual(charge.segments.map((seg) => [seg.type, seg.start, seg.end, seg.attempt ?? null, seg.failed ?? null, seg.retry ?? null]), [
    ["work", 1000, 1100, 1, true, null],
    ["wait", 1100, 2100, null, null, true],
    ["work", 2100, 2200, 2, true, null],
    ["wait", 2200, 3900, null, null, true],
    ["work", 3900, 4000, 3, false, null],
  ]);
  assert.deepEqual(charge.segments.filter((seg) => seg.failed).map((seg) => seg.error), ["boom", "bang"]);
  // In pixels: each segment starts where the one before it ended, and the
  // back-off is wider than the attempts around it.
  for (let i = 1; i < charge.segments.length; i++) {
    const [before, after] = [charge.segments[i - 1], charge.segments[i]];
    assert.ok(Math.abs(after.x - (before.x + before.w)) < 4, JSON.stringify([before, after]));
  }
  assert.ok(charge.segments[3].w > 5 * charge.segments[4].w);
  assert.equal(charge.note, false, "recorded attempts need no note");
  assert.equal(confirm.y - charge.y, 26, "and no taller row");
});

test("after its last recorded attempt, a pending step shows its back-off and a running one its attempt under way", () => {
  const log = [attempt(1, 1000, 1200, "e1")];
  const pending = timelineLayout(run, [step(0, "charge", "run", "pending", 1000, null, { attempts: 1, wake_at: 9000, attempt_log: log })], { now: 3000 });
  assert.deepEqual(pending.rows[0].segments.map((seg) => [seg.type, seg.start, seg.end, seg.open, seg.retry ?? null]), [
    ["work", 1000, 1200, false, null],
    ["wait", 1200, 9000, true, true],
  ]);
  assert.equal(pending.rows[0].segments[0].error, "e1");
  const running = timelineLayout(run, [step(0, "charge", "run", "running", 1000, null, { attempts: 2, attempt_log: log })], { now: 3000 });
  const [first, second] = running.rows[0].segments;
  assert.equal(first.failed, true);
  assert.deepEqual([second.type, second.start, second.end, second.open, second.attempt, second.startKnown], ["work", 1200, 3000, true, 2, false]);
});

test("the Attempts tab lists each attempt with its times, outcome and error", () => {
  const log = [attempt(1, 1000, 1100, { truncated: true, bytes: 9000, preview: "too long" }), attempt(2, 1500, 1600)];
  const retried = attemptRows(step(0, "charge", "run", "completed", 1000, 1600, { attempts: 2, attempt_log: log }));
  assert.deepEqual(retried.rows.map((row) => [row.attempt, row.start, row.end, row.duration, row.outcome, row.error]), [
    [1, 1000, 1100, 100, "failed", "too long…"],
    [2, 1500, 1600, 100, "completed", null],
  ]);
  assert.equal(retried.unrecorded, 0);
  // A step done at its first attempt: that attempt is the step.
  const once = attemptRows(step(0, "a", "run", "completed", 1000, 1040));
  assert.deepEqual(once.rows.map((row) => [row.attempt, row.start, row.end, row.outcome]), [[1, 1000, 1040, "completed"]]);
  // Recorded before attempt times were kept: nothing listed, all counted.
  const old = attemptRows(step(0, "b", "run", "failed", 1000, 4000, { attempts: 3 }));
  assert.deepEqual([old.rows.length, old.unrecorded], [0, 3]);
  // One attempt under way after the recorded ones.
  assert.equal(attemptRows(step(0, "c", "run", "running", 1000, null, { attempts: 2, attempt_log: [log[0]] })).unrecorded, 1);
});

test("a step recorded without attempt times keeps its attempts in one segment: no attempt boundary is invented", () => {
  // Rows written before attempt times were kept: the store has the first
  // start (1000), the last end (4000) and the count (3), not each attempt's.
  const steps = [
    step(0, "charge", "run", "completed", 1000, 4000, { attempts: 3 }),
    step(1, "confirm", "run", "completed", 4000, 4100),
  ];
  const layout = timelineLayout(run, steps, { now: 5000 });
  const [charge, confirm] = layout.rows;
  assert.equal(charge.segments.length, 1);
  assert.deepEqual([charge.segments[0].type, charge.segments[0].start, charge.segments[0].end], ["work", 1000, 4000]);
  assert.equal(charge.segments[0].attempts, 3);
  assert.equal(charge.segments[0].endKnown, undefined, "a finished step's end is known");
  assert.equal(confirm.segments[0].attempts, 1);
  // The retried row is taller by the line that gives the count; the last
  // row ends inside the drawing.
  assert.equal(charge.note, true);
  assert.equal(confirm.note, false);
  assert.equal(confirm.y - charge.y, 26 + 12);
  assert.equal(layout.height, confirm.y + 26 + 4);
});

const manifest = [
  { name: "validate", kind: "run", keyed: false, parent: null },
  { name: "price-all", kind: "map", keyed: false, parent: null },
  { name: "price", kind: "run", keyed: false, parent: "price-all" },
  { name: "cool-off", kind: "sleep", keyed: false, parent: null },
  { name: "ship", kind: "run", keyed: false, parent: null },
];

test("a workflow that never ran shows every step of its manifest, not reached", () => {
  const graph = graphLayout(manifest, []);
  const labels = graph.nodes.map((node) => node.label);
  assert.deepEqual(labels, ["validate", "price-all", "[each] price", "cool-off", "ship"]);
  assert.ok(graph.nodes.every((node) => node.state === "not_reached"));
  assert.equal(graph.edges.length, 4);
});

test("a run's graph marks done, sleeping and not-reached steps, with branches as lanes", () => {
  const steps = [
    step(0, "validate", "run", "completed", 1, 2),
    step(1, "price-all", "map", "completed", 2, 5),
    step(2, "price-all[0]/price", "run", "completed", 2, 3),
    step(3, "price-all[1]/price", "run", "completed", 2, 4),
    step(4, "price-all[2]/price", "run", "failed", 2, 4),
    step(5, "cool-off", "sleep", "sleeping", 5, null),
  ];
  const graph = graphLayout(manifest, steps);
  const byLabel = Object.fromEntries(graph.nodes.map((node) => [node.label, node]));
  assert.equal(byLabel.validate.state, "done");
  assert.equal(byLabel["cool-off"].state, "sleeping");
  assert.equal(byLabel.ship.state, "not_reached");
  assert.equal(byLabel["[2] price"].state, "failed");
  const lanes = ["[0] price", "[1] price", "[2] price"].map((label) => byLabel[label]);
  assert.ok(lanes.every((node) => node.y === lanes[0].y), "lanes side by side");
  assert.equal(new Set(lanes.map((node) => node.x)).size, 3);
  assert.ok(byLabel["cool-off"].y > lanes[0].y, "the lanes join before the next step");
  const intoCoolOff = graph.edges.filter((edge) => edge.to === byLabel["cool-off"].id);
  assert.equal(intoCoolOff.length, 3);
  for (const node of graph.nodes) assert.ok(node.x >= 0 && node.x + node.w <= graph.width, node.label);
});

test("many branches are summed up past the lane limit", () => {
  const steps = [step(0, "fan", "map", "running", 1, null)];
  for (let i = 0; i < 20; i++) steps.push(step(i + 1, `fan[${i}]/work`, "run", i === 15 ? "failed" : "completed", 1, 2));
  const graph = graphLayout(null, steps, { maxLanes: 4 });
  const more = graph.nodes.find((node) => node.kind === "more");
  assert.equal(more.label, "+16 more branches");
  assert.equal(more.state, "failed");
  assert.equal(graph.nodes.length, 1 + 4 + 1);
});

test("compensations follow the step they undo; unknown steps keep their place", () => {
  const steps = [
    step(0, "validate", "run", "completed", 1, 2),
    step(1, "helper", "run", "completed", 2, 3),
    step(2, "price-all", "map", "failed", 3, 4),
    step(3, "compensate/validate", "run", "completed", 5, 6),
  ];
  const graph = graphLayout(manifest, steps);
  const labels = graph.nodes.map((node) => node.label);
  assert.deepEqual(labels.slice(0, 3), ["validate", "undo validate", "helper"]);
  assert.equal(nodeState("pending"), "retrying");
  assert.equal(nodeState(undefined), "not_reached");
});

test("without a manifest the graph is the run's steps in order", () => {
  const steps = [step(1, "b", "run", "running", 2, null), step(0, "a", "run", "completed", 1, 2)];
  const graph = graphLayout(null, steps);
  assert.deepEqual(graph.nodes.map((node) => [node.label, node.state]), [["a", "done"], ["b", "running"]]);
});

test("branches whose fan-out recorded no step of its own hang under one fan-out node", () => {
  const steps = [0, 1, 2].map((i) => step(i, `fan[${i}]/work`, "run", i === 1 ? "running" : "completed", 1, 2));
  steps.push(step(3, "after", "run", "completed", 3, 4));
  const graph = graphLayout(null, steps);
  const fan = graph.nodes.find((node) => node.label === "fan");
  assert.equal(fan.state, "running");
  const lanes = graph.nodes.filter((node) => node.label.endsWith(" work"));
  assert.equal(lanes.length, 3);
  assert.ok(lanes.every((node) => node.y > fan.y && node.y === lanes[0].y));
  const after = graph.nodes.find((node) => node.label === "after");
  assert.equal(graph.edges.filter((edge) => edge.to === after.id).length, 3);
  const withManifest = graphLayout([{ name: "fan", kind: "map", parent: null }, { name: "work", kind: "run", parent: "fan" }], steps.slice(0, 3));
  assert.equal(withManifest.nodes[0].state, "running", "a manifest's fan-out takes its branches' state");
});

test("a trigger form starts from the input schema's required fields", async () => {
  const { skeleton } = await import("../../web/workflows.js");
  const schema = {
    type: "object", required: ["order_id", "amount", "items", "address"],
    properties: {
      order_id: { type: "string" }, amount: { type: "integer" }, items: { type: "array" },
      address: { $ref: "#/$defs/Address" }, note: { type: ["string", "null"] },
    },
    $defs: { Address: { type: "object", required: ["city"], properties: { city: { type: "string", default: "Lyon" } } } },
  };
  assert.deepEqual(skeleton(schema), { order_id: "", amount: 0, items: [], address: { city: "Lyon" } });
  assert.equal(skeleton({ type: "string", enum: ["a", "b"] }), "a");
  assert.equal(skeleton(null), null);
});

test("a manifest's typed events come with their schemas, each once", () => {
  const manifest = [
    { name: "scan", kind: "wait_for_event", options: [["timeout", "7d"], ["event", "parcel.scanned"]] },
    { name: "charge", kind: "run", options: [] },
    { name: "rescan", kind: "wait_for_event", options: [["event", "parcel.scanned"]] },
    { name: "legacy", kind: "wait_for_event", options: [["event", "untyped.name"]] },
    { name: "tell", kind: "send_event", options: [["event", "order.shipped"]] },
  ];
  const types = [
    { name: "order.shipped", schema: { required: ["order"] } },
    { name: "parcel.scanned", schema: { required: ["id"] } },
    { name: "parcel.scanned", schema: { required: ["old"] } },
  ];
  assert.deepEqual(manifestEvents(manifest, types), [
    { name: "parcel.scanned", schema: { required: ["id"] }, steps: ["scan", "rescan"] },
    { name: "order.shipped", schema: { required: ["order"] }, steps: ["tell"] },
  ]);
  assert.deepEqual(manifestEvents(null, types), []);
  assert.deepEqual(manifestEvents(manifest, undefined), []);
});

test("a group is one node with its steps in one lane under it, with or without a manifest", () => {
  const groupManifest = [
    { name: "ship", kind: "group", keyed: false, parent: null },
    { name: "pack", kind: "run", keyed: false, parent: "ship" },
    { name: "label", kind: "run", keyed: false, parent: "ship" },
    { name: "notify", kind: "run", keyed: false, parent: null },
  ];
  const steps = [
    step(0, "ship/pack", "run", "completed", 1, 2),
    step(0, "ship", "group", "completed", 1, 3),
    step(1, "ship/label", "run", "running", 2, null),
  ];
  for (const graph of [graphLayout(groupManifest, steps), graphLayout(null, steps)]) {
    const byLabel = Object.fromEntries(graph.nodes.map((node) => [node.label, node]));
    assert.ok(byLabel.ship && byLabel.pack && byLabel.label, JSON.stringify(graph.nodes.map((node) => node.label)));
    assert.equal(byLabel.pack.state, "done");
    assert.equal(byLabel.label.state, "running");
    assert.ok(byLabel.pack.y > byLabel.ship.y, "the group's steps hang under it");
    assert.ok(!graph.nodes.some((node) => node.label.includes("/")), "no step shows its scoped name");
  }
  // The group's lane is framed: the frame holds its two steps, not the group's node.
  const framed = graphLayout(groupManifest, steps);
  assert.equal(framed.frames.length, 1);
  const [frame] = framed.frames;
  assert.equal(frame.group, "ship");
  const inside = (node) => node.x >= frame.x && node.x + node.w <= frame.x + frame.w && node.y >= frame.y && node.y + node.h <= frame.y + frame.h;
  assert.deepEqual(framed.nodes.filter(inside).map((node) => node.label), ["pack", "label"]);
  const unreached = graphLayout(groupManifest, []);
  assert.deepEqual(unreached.nodes.map((node) => node.label), ["ship", "pack", "label", "notify"]);
});

test("the steps view lists a group's inner steps right after it, though they count their seq from 0", () => {
  // As the API answers: by seq, the group's steps numbered within it.
  const steps = [
    step(0, "ship", "group", "completed", 1, 3),
    step(0, "ship/pack", "run", "completed", 1, 2),
    step(1, "notify", "run", "completed", 4, 5),
    step(1, "ship/label", "run", "completed", 2, 3),
    step(2, "ship/box", "group", "completed", 3, 3),
    step(0, "ship/box/tape", "run", "completed", 3, 3),
  ].sort((a, b) => a.seq - b.seq);
  assert.deepEqual(stepOrder(steps).map((s) => s.name), ["ship", "ship/pack", "ship/label", "ship/box", "ship/box/tape", "notify"]);
  const groups = ["ship", "ship/box"];
  assert.equal(groupOf("ship/box/tape", groups), "ship/box");
  assert.equal(groupOf("ship/pack", groups), "ship");
  assert.equal(groupOf("shipping", groups), null);
  assert.equal(groupOf("ship", groups), null);
  // Without a group, the order is the run's.
  const plain = [step(0, "a", "run", "completed", 1, 2), step(1, "b", "run", "completed", 2, 3)];
  assert.deepEqual(stepOrder(plain).map((s) => s.name), ["a", "b"]);
});
