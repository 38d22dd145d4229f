import { describe, expect, it } from 'vitest';
import { rateLimitKey, tokenMatches } from './token.js';

describe('rateLimitKey: what wrong tokens count against', () => {
  it('an IPv4 address, also when mapped into IPv6', () => {
    expect(rateLimitKey('203.0.113.7')).toBe('203.0.113.7');
    expect(rateLimitKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(rateLimitKey('::FFFF:203.0.113.7')).toBe('203.0.113.7');
  });

  it('the /64 of an IPv6 address, however it is written', () => {
    const key = '2001:db8:1:2::/64';
    for (const a of ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::9', '2001:DB8:0001:0002:aaaa::', '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2:3:4:1.2.3.4', '2001:db8:1:2::1%eth0']) {
      expect(rateLimitKey(a), a).toBe(key);
    }
    expect(rateLimitKey('2001:db8:1:3::9')).not.toBe(key);
    expect(rateLimitKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(rateLimitKey('64:ff9b::1.2.3.4')).toBe('64:ff9b:0:0::/64');
    expect(rateLimitKey('::1')).toBe('0:0:0:0::/64');
  });

  it('anything else as itself', () => {
    expect(rateLimitKey('?')).toBe('?');
    expect(rateLimitKey('not-an-address')).toBe('not-an-address');
  });
});

describe('tokenMatches', () => {
  it('is true for the same token only', () => {
    expect(tokenMatches('s3cret', 's3cret')).toBe(true);
    expect(tokenMatches('s3cret', 's3cre')).toBe(false);
    expect(tokenMatches('s3cret', '')).toBe(false);
  });
});
