/*
 * lib.js: what the browser tests share (browse.js, docs.js): the checks'
 * output ("ok NAME" / "FAIL NAME: why"), the server's address and token
 * from SHELF_URL, and the API read from outside the page.
 */
'use strict';

const url = new URL(process.env.SHELF_URL);
const t = {
    url,
    token: url.searchParams.get('token'),
    base: url.origin,
    failed: 0,
};

t.ok = (name) => {
    console.log(`ok   ${name}`);
};
t.fail = (name, why) => {
    t.failed++;
    console.error(`FAIL ${name}: ${why}`);
};
t.check = (name, cond, why) => {
    if (cond)
        t.ok(name);
    else
        t.fail(name, why);
};

/* GET the API from outside the page, with the token header. */
t.apiGet = async (p) => {
    const r = await fetch(t.base + p, { headers: { 'X-Shelf-Token': t.token } });
    if (!r.ok)
        throw new Error(`GET ${p}: ${r.status}`);
    return r.json();
};

module.exports = t;
