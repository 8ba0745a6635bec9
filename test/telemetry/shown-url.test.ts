import t from 'tap';
import { shownText, shownUrl } from '../../src/telemetry/shown-url.js';

t.test('shows a URL with its password replaced, and one without a password as it is', async (t) => {
  t.equal(shownUrl('http://user:pw@127.0.0.1:4318/'), 'http://user:***@127.0.0.1:4318/');
  t.equal(shownUrl('https://:pw@collector/base'), 'https://:***@collector/base');
  t.equal(shownUrl('http://user@127.0.0.1:4318'), 'http://user@127.0.0.1:4318', 'a user name alone is no secret');
  t.equal(shownUrl('http://127.0.0.1:4318'), 'http://127.0.0.1:4318', 'unchanged, not normalised');
  t.equal(shownUrl('http://user:pw@bad host:4318/'), 'http://***@bad host:4318/', 'a value that is no URL loses what is before its @ too');
  t.equal(shownUrl('not a url'), 'not a url');
});

t.test('shows free text with the user and password of every URL in it replaced', async (t) => {
  t.equal(shownText("Could not parse export URL: 'http://user:pw@[bad', falling back"), "Could not parse export URL: 'http://***@[bad', falling back");
  t.equal(shownText('to https://u:p@ss@host:4318/v1/traces and http://token@h/x'), 'to https://***@host:4318/v1/traces and http://***@h/x', 'up to the last @ of each authority');
  t.equal(shownText('http://127.0.0.1:4318/v1/traces mail a@b.c'), 'http://127.0.0.1:4318/v1/traces mail a@b.c', 'text without credentials in a URL is as it is');
});
