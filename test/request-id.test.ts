import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newRequestId, requestIdOf } from '../src/http/forwarded.ts';

const uuidV4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('new request ids are version 4 UUIDs, none repeated across many refills of their random bytes', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    const id = newRequestId();
    assert.match(id, uuidV4);
    seen.add(id);
  }
  assert.equal(seen.size, 20_000);
});

test("a client's well-formed X-Request-Id is kept; anything else is replaced by a new id", () => {
  assert.equal(requestIdOf('abc-123_x.y'), 'abc-123_x.y');
  for (const forged of [undefined, '', 'a b', 'x'.repeat(129), 'id\r\nset-cookie: a=b']) assert.match(requestIdOf(forged), uuidV4);
});
