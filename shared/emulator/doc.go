// Package emulator is a strict, in-process emulator of the upstream APIs,
// written from the upstream documents (docs/protocol.md lists them), not
// from the clients: it shares no code with them except package sign, the
// documented signature, which its tests check against the documents'
// worked examples. Every rule a client relies on is enforced here first,
// with a test quoting the document. It serves the local stack (make run)
// and the tests.
//
// # WeBank KYC
//
// An *Emulator is an http.Handler serving, on any host:
//
//	GET  /api/oauth2/access_token        app_id|appId, secret, grant_type=client_credential, version=1.0.0
//	GET  /api/oauth2/api_ticket          app_id|appId, access_token, type=SIGN|NONCE, version (+ user_id for NONCE)
//	POST /api/paas/idcardocrapp?orderNo= JSON: appId|webankAppId, version, nonce, sign, orderNo, userId, cardType, idcardStr, getNative
//	GET  /api/server/getOcrResult        app_id, order_no, get_file, nonce, version, sign, get_native
//	POST /api/paas/bankcardocrapp?orderNo= JSON: appId|webankAppId, version, nonce, sign, orderNo, userId, bankcardStr
//	GET  /api/server/getBankCardOcrResult app_id, order_no, get_file, nonce, version, sign
//
// Every answer is JSON with code (a string, "0" = success) and msg, HTTP
// 200 (HTTP 404/405 for unknown paths and wrong methods, still with code
// "400101"). OCR answers nest their fields under "result", as the
// documented examples do, with bizSeqNo and transactionTime both inside and
// outside it and "success":false.
//
// Usage:
//
//	e := emulator.New(emulator.Config{Overlap: 200 * time.Millisecond})
//	srv := httptest.NewServer(e) // base URL for the client
//	e.SetFault(emulator.EndpointIDCardOCR, emulator.Fault{Kind: emulator.FaultStatus, Next: 1})
//	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 42}.JPEG()
//	want := emulator.Person(42) // what the emulator will recognize
//
// API: New(Config) *Emulator; (*Emulator).ServeHTTP; SetFault(endpoint,
// Fault) and ClearFaults(); Counts() map[string]int64, Count(name) int64,
// ResetCounts(); RotateSecret(newSecret) and ExpireTokens(); CardSpec with
// JPEG(), PNG(), BMP() and Marker(); Person(seed) Identity;
// BankCard(seed) BankCardData; IDCheckDigit and LuhnValid.
//
// # Tencent Cloud OCR
//
// POST / with X-TC-Action IDCardOCR or BankCardOCR (API 3.0, version
// 2018-11-19) serves Tencent Cloud OCR: a TC3-HMAC-SHA256 signature over
// Config.TencentCloud's key pair, a timestamp within five minutes, known
// members only, ImageBase64 of at most 7 MiB; answers in the
// {"Response":{…,"RequestId"}} envelope, errors as Response.Error codes.
// The same image gives the same person or card number as on the WeBank
// and WeChat endpoints (tencentcloud.go).
//
// # Strictness
//
//   - Credentials: one app (Config.AppID, Config.Secret). A new access_token
//     leaves every older token, and every ticket issued under it, valid for
//     at most Config.Overlap more; a ticket dies with its token; a new SIGN
//     ticket leaves every older SIGN ticket Overlap more. Lifetimes are
//     Config durations; expire_in reports them in whole seconds (rounded
//     down), as a string unless Config.ExpireInAsNumber.
//   - Signatures: sign (40 hex, compared case-insensitively) must equal
//     sign.Sign over the documented five values and one currently valid
//     SIGN ticket: appId (the value sent, under appId or webankAppId),
//     orderNo, nonce, version for submissions (userId is not signed);
//     app_id, order_no, version, nonce for queries.
//   - Parameters: version "1.0.0"; nonce 32 letters/digits; orderNo and
//     order_no 1–32 letters/digits, unique per app across both OCR APIs and
//     equal to the URL's orderNo when the URL has one; userId (and user_id)
//     at most 32 letters/digits; cardType "0" or "1" as a JSON string, or
//     absent (the side is then detected); Content-Type application/json;
//     queries only accept app_id (the documented spelling). JSON fields of
//     the wrong type make the request invalid.
//   - Images: standard base64 (padding required; line breaks tolerated; no
//     "data:" prefix) of a JPEG, PNG or BMP. The documented limits are on
//     the Base64 string as sent, not on the image: idcardStr "图片的
//     Base64，大小不超过20MB" (length 20971520, Config.MaxIDCardBase64) and
//     bankcardStr "Base64 String … 大小不超过3MB" (3145728,
//     Config.MaxBankCardBase64), so the largest images are 15728640 and
//     2359296 bytes. Images up to 1 megapixel are decoded completely,
//     larger ones only have their headers checked.
//   - An order number is used up once the call passes the parameter and
//     signature checks, whether or not recognition then succeeds. Only
//     successful recognitions leave a result to query; results and used
//     numbers are kept Config.OrderRetention (72 h, "kept 3 days").
//
// # Answer codes
//
// Documented cases use the documented codes (docs/protocol.md §6). Where the
// documents are silent, the choice and the rejection reason counted:
//
//	situation                                          code       reason counted
//	missing/invalid parameter, bad JSON, Content-Type  400101     invalid_request
//	bare GET of access_token                           400101     invalid_request
//	wrong appId+secret at access_token                 400101     bad_credentials
//	unknown appId elsewhere                            400101     unknown_app
//	sign matches no ticket ever issued                 400101     bad_sign
//	sign made with a superseded/expired/revoked ticket 400101     stale_ticket
//	URL orderNo differs from the body's                400101     order_no_mismatch
//	unknown, expired or superseded access_token        15         token_expired      (api_ticket)
//	orderNo/order_no too long or not letters/digits    66660000   bad_order_no       (documented: 参数过长)
//	duplicate orderNo                                  66660000   duplicate_order    (undocumented: Config.DuplicateOrderCode)
//	image string over the limit, or body far over it   66660015   too_large          (documented image error: 视频或图片异常)
//	not base64, or not a JPEG/PNG/BMP                  66661010   not_image
//	looks like JPEG/PNG/BMP but does not decode        66661005   decode_error
//	ID: no marker, not an ID card, or Blurry           66661001   not_recognized
//	ID: cardType 0 with the emblem side                66661006   wrong_side
//	ID: cardType 1 with the portrait side              66661007   wrong_side
//	ID: front Unreadable, or ID number invalid         66661008   unreadable         (documented: checksum fail etc.)
//	ID: back Unreadable                                66661012   unreadable
//	ID: validity end before today (China time)         66661003   expired_card
//	ID: validity dates not dates, or reversed          66661004   bad_dates
//	bank: no marker or not a bank card                 -9013      not_recognized
//	bank: Unreadable / Blurry                          -9011/-9012 unreadable/blurry
//	CardSpec.Code set                                  that code  forced
//	query: unknown order, other API's order, failed
//	  submission, or older than OrderRetention         66660020   no_result
//	wrong HTTP method / unknown path                   400101     method_not_allowed / not_found
//
// getOcrResult: each order has one side (order numbers are unique per
// call); the side not submitted in the order gets code "66660020" (no
// result for that side) and none of its fields. Text fields, warn codes
// and clarity appear only for the side whose code is "0"; frontWarnCode
// and frontMultiWarning (back* likewise) both carry the 8-character
// warning string. With get_file=1 the photos come only once the order's
// photo delay has passed ("部分情况下获取照片会有1秒左右的延迟":
// Config.PhotoDelay, changed for later orders by SetPhotoDelay); before
// that the answer is the same without them. The photos are base64 JPEGs: frontPhoto/backPhoto are the uploaded image
// (re-rendered as JPEG when a PNG or BMP was uploaded), frontCrop/backCrop
// and headPhoto are rendered. The submit answer's result.sign is [I]
// SHA-1 over appId, orderNo and the ticket that verified the call (like
// the legacy SDK-result signature); clients should ignore it.
//
// Bank cards: warningCode/warnCode is the first warning code or "0";
// multiWarningCode (submit) / multiWarnCode (query, as documented) is "0"
// or "[-9111,-9114]". An expired card (MM/YYYY before this month) gets
// warning 66661009; an unparsable date -9110. Neither fails the call.
//
// # Test images
//
// Recognition is deterministic per image: CardSpec.JPEG (COM segment),
// PNG (tEXt chunk) and BMP (bytes after the pixels) embed a marker such as
//
//	cardocr-emulator;kind=idcard;side=front;seed=42;warning=10010100;clarity=80
//
// (values URL-escaped). The seed picks the identity (Person) or bank card
// (BankCard); the same seed on both sides is the same person. CardSpec
// fields override single results or force failures (Unreadable, Blurry,
// BadCheckDigit, BadLuhn, Code, dates); MinSize pads the file for size
// tests. An image without a valid marker is not a card. Default clarity is
// 60 + |seed| mod 36.
//
// # Faults and counters
//
// SetFault(endpoint, Fault) (endpoint: EndpointAccessToken, EndpointAPITicket,
// EndpointIDCardOCR, EndpointOCRResult, EndpointBankCardOCR,
// EndpointBankCardResult, or AllEndpoints) adds latency and/or answers the
// next N calls, a fraction of the calls (deterministically), or every call
// with an HTTP 5xx (HTML body), a truncated JSON body, or a TCP reset;
// Fault.AfterProcessing performs the call before breaking its answer.
// Counts() has received calls per endpoint name, "accepted:<endpoint>" per
// submission that recognized a card (what the upstream bills),
// "rejected:<reason>" per non-zero answer (reasons above) and
// "fault:<kind>" per injected fault.
//
// NONCE tickets are issued (120 s) but nothing here consumes them, so their
// single use is not enforced. The emulator logs (Config.Logger, discarded
// by default) only endpoint names and rejection reasons: never tokens,
// tickets, secrets, personal data or images.
package emulator
