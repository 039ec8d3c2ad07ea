// Unit tests of the console's timeline and graph layouts (web/layout.js),
// run by `node --test` from tests/js.rs.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  formatDuration, splitName, ticks, timelineLayout, overlaps, graphLayout, nodeState,
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
  assert.equal(layout.rows[0].attempts, 2);
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
