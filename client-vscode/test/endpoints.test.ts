import { strict as assert } from "node:assert";
import { test } from "node:test";
import { endpointProblem } from "../src/pure/endpoints";

test("an endpoint takes a key only over https, or plain http to this machine", () => {
  assert.equal(endpointProblem("https://name.openai.azure.com"), undefined);
  assert.equal(endpointProblem("https://api.example.com/v1/"), undefined);
  assert.equal(endpointProblem("http://127.0.0.1:8765/azure"), undefined);
  assert.equal(endpointProblem("http://localhost:8000/v1"), undefined);
  assert.match(endpointProblem("http://api.example.com/v1") ?? "", /unencrypted/);
  assert.match(endpointProblem("https://user:pw@api.example.com/v1") ?? "", /user name or password/);
  assert.match(endpointProblem("ftp://api.example.com") ?? "", /unencrypted/);
  assert.match(endpointProblem("not a url") ?? "", /Type an address/);
});
