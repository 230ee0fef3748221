import { createScope, custom, flow, tag } from '@pumped-fn/core-next';
import { afterEach, describe, expect, it } from 'vitest';
import { captureJson, createRedactor, createTracingExtension, REDACTED } from '../src/index.js';
import { redactCardNumbers } from '../src/data.js';
import * as attr from '@flowtrace/semconv';
import { byName, json, memoryTracing } from './support/memory-tracing.js';

const capture = (value: unknown) => JSON.parse(captureJson(value, { maxBytes: 8192, redact: createRedactor(undefined) })!.json);

describe('default redaction of payment and identity keys', () => {
  it('hides card, cardNumber, pan, cvv, cvc, iban, ssn and accountNumber in any case and spelling', () => {
    const hidden = [
      'card', 'Card', 'CARD', 'cardNumber', 'card_number', 'CARD-NUMBER', 'card.number', 'CardNumber', 'cardnumber', 'CARDNUMBER',
      'creditCard', 'creditCardNumber', 'credit_card_number', 'payment-card',
      'pan', 'PAN', 'cardPan', 'card_pan',
      'cvv', 'CVV', 'cvv2', 'cardCvv', 'cvc', 'CVC', 'card_cvc',
      'iban', 'IBAN', 'bankIban', 'payoutIBAN',
      'ssn', 'SSN', 'userSsn', 'customer_ssn',
      'accountNumber', 'account_number', 'ACCOUNT-NUMBER', 'bankAccountNumber',
    ];
    for (const key of hidden) expect(capture({ [key]: 'x', other: 1 }), key).toEqual({ [key]: REDACTED, other: 1 });
  });

  it('leaves innocent keys that merely contain those letters readable', () => {
    const readable = [
      'company', 'span', 'timeSpan', 'lifespan', 'japan', 'panel', 'expand', 'panic',
      'discard', 'postcard', 'wildcard', 'scorecard', 'dashboard', 'cardType', 'cardCount', 'cards', 'cardholderName',
      'account', 'accountId', 'accountName', 'number', 'orderNumber', 'phoneNumber',
      'business', 'classname', 'ribbon', 'gibbon',
    ];
    for (const key of readable) expect(capture({ [key]: 'x' }), key).toEqual({ [key]: 'x' });
  });

  it('still hides the older defaults (tokens, passwords, keys)', () => {
    expect(capture({ accessToken: 't', DB_PASSWORD: 'p', 'x-api-key': 'k', maxTokens: 5 })).toEqual({
      accessToken: REDACTED,
      DB_PASSWORD: REDACTED,
      'x-api-key': REDACTED,
      maxTokens: 5,
    });
  });
});

describe('card-like numbers in free text', () => {
  const cards = ['4242424242424242', '4111 1111 1111 1111', '5555-5555-5555-4444', '378282246310005', '3782 822463 10005', '6011111111111117', '30569309025904', '4222222222222'];

  it('replaces 13–19 digit Luhn-valid numbers, with spaces or dashes between groups, in place', () => {
    for (const card of cards) {
      expect(redactCardNumbers(card), card).toBe(REDACTED);
      expect(redactCardNumbers(`charged to ${card}, thanks`), card).toBe(`charged to ${REDACTED}, thanks`);
    }
    expect(redactCardNumbers('cards 4242424242424242 and 5555 5555 5555 4444.')).toBe(`cards ${REDACTED} and ${REDACTED}.`);
    // A card number next to other digit groups is still found.
    expect(redactCardNumbers('ref 12 4242 4242 4242 4242 exp 2029')).toBe(`ref 12 ${REDACTED} exp 2029`);
  });

  it('keeps order ids, timestamps, phone numbers and other numbers that are not card-like', () => {
    const readable = [
      'order 4242424242424241', // fails the Luhn check
      'ts 1764518400123', // a millisecond timestamp that fails the Luhn check
      'ts 1764518400130', // one that passes it: no card number starts with 1
      'ns 1764518400130000000', // nanoseconds (19 digits) that pass it too
      '2026-11-30T16:55:25.123Z',
      '2026-11-30 16:55:25',
      'call +1 415-555-0132',
      'ORD-000123456789', // 12 digits: too short
      'id 12345678901234567890123', // 23 digits: too long to be one card
      'batch 4242  4242 4242 4242', // two spaces split the run into parts too short
      '4242424242424242x'.slice(0, 12),
    ];
    for (const text of readable) expect(redactCardNumbers(text), text).toBe(text);
  });

  it('applies everywhere a value is captured: strings, strings in arrays, numbers, nested', () => {
    const value = {
      note: 'pay with 4242 4242 4242 4242 please',
      params: ['4111111111111111', 12.5, 'ORD-77'],
      asNumber: 4242424242424242,
      deep: { list: [{ text: 'card 5555-5555-5555-4444 on file' }] },
      createdAt: 1764518400123,
      updatedAt: 1764518400130, // passes the Luhn check, but no card number starts with 1
      orderId: 4242424242424241,
    };
    expect(capture(value)).toEqual({
      note: `pay with ${REDACTED} please`,
      params: [REDACTED, 12.5, 'ORD-77'],
      asNumber: REDACTED,
      deep: { list: [{ text: `card ${REDACTED} on file` }] },
      createdAt: 1764518400123,
      updatedAt: 1764518400130,
      orderId: 4242424242424241,
    });
  });

  it('is turned off with everything else by redact: false', () => {
    const off = captureJson({ note: '4242424242424242' }, { maxBytes: 8192, redact: createRedactor(false), cardNumbers: false })!;
    expect(JSON.parse(off.json)).toEqual({ note: '4242424242424242' });
  });
});

describe('redaction through the extension', () => {
  const tracing = memoryTracing();
  afterEach(() => tracing.reset());
  const note = tag(custom<string>(), { label: 'note' });

  const pay = flow({ name: 'pay', input: custom<{ cardNumber: string; memo: string }>(), output: custom<string>() }, async (ctx, input) => {
    return ctx.exec({ key: 'charge', fn: (card: string, memo: string) => `ok ${card.slice(-4)} ${memo}`, params: [input.cardNumber, input.memo] });
  });

  it('hides card numbers in inputs, fn params, outputs and tags; redact: false shows them', async () => {
    const input = { cardNumber: '4242 4242 4242 4242', memo: 'backup card 5555555555554444' };
    const scope = createScope({ extensions: [createTracingExtension({ tracer: tracing.tracer })], tags: [note('card 4111-1111-1111-1111')] });
    await scope.exec({ flow: pay, input });
    const spans = tracing.spans();
    const root = byName(spans, 'flow pay');
    expect(json(root.attributes[attr.ATTR_INPUT])).toEqual({ cardNumber: REDACTED, memo: `backup card ${REDACTED}` });
    expect(root.attributes[`${attr.ATTR_TAG_PREFIX}note`]).toBe(`card ${REDACTED}`);
    const charge = byName(spans, 'step charge');
    expect(json(charge.attributes[attr.ATTR_INPUT])).toEqual([REDACTED, `backup card ${REDACTED}`]);
    expect(json(charge.attributes[attr.ATTR_OUTPUT])).toBe(`ok 4242 backup card ${REDACTED}`);
    const everything = JSON.stringify(spans.map((s) => s.attributes));
    expect(everything).not.toMatch(/4242.?4242.?4242.?4242|5555.?5555.?5555.?4444|4111.?1111.?1111.?1111/);

    tracing.reset();
    await createScope({ extensions: [createTracingExtension({ tracer: tracing.tracer, redact: false })] }).exec({ flow: pay, input });
    expect(json(byName(tracing.spans(), 'flow pay').attributes[attr.ATTR_INPUT])).toEqual(input);
  });
});
