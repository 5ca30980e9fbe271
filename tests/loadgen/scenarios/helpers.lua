-- crypto.*, encoding.*, uuid.v4, http.file (multipart) and http.url, one exec function per case
-- (-e CASE=name); each reports what it saw through check(). Vectors: FIPS 180-2 / RFC 1321 / RFC 3174
-- (hashes), RFC 4231 (HMAC-SHA256), RFC 4648 section 10 (base64).
local case = assert(env.CASE, "-e CASE=name is required")
options = { scenarios = { main = { executor = "per-vu-iterations", vus = 1, iterations = 1, exec = case } } }

local function expect(name, condition)
  check(nil, { [name] = condition and true or false })
end

function vectors()
  expect("sha256 abc", crypto.sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  expect("sha256 empty", crypto.sha256("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
  expect("sha256 base64", crypto.sha256("abc", "base64") == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=")
  expect("sha256 binary", #crypto.sha256("abc", "binary") == 32)
  expect("md5 empty", crypto.md5("") == "d41d8cd98f00b204e9800998ecf8427e")
  expect("sha1 abc", crypto.sha1("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d")
  expect("sha512 abc prefix", crypto.sha512("abc"):sub(1, 16) == "ddaf35a193617aba")
  expect("hmac rfc4231 case 1",
         crypto.hmac("sha256", string.rep("\x0b", 20), "Hi There") ==
           "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
  expect("hmac rfc4231 case 2",
         crypto.hmac("sha256", "Jefe", "what do ya want for nothing?") ==
           "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
  local ok, err = pcall(crypto.hmac, "sha3", "k", "d")
  expect("unknown algorithm named", not ok and err:find("unknown algorithm 'sha3'", 1, true) ~= nil)

  local rfc4648 = { [""] = "", f = "Zg==", fo = "Zm8=", foo = "Zm9v", foob = "Zm9vYg==", fooba = "Zm9vYmE=",
                    foobar = "Zm9vYmFy" }
  local all = true
  for plain, coded in pairs(rfc4648) do
    all = all and encoding.b64encode(plain) == coded and encoding.b64decode(coded) == plain
    all = all and encoding.b64encode(plain, "rawstd") == coded:gsub("=", "")
    all = all and encoding.b64decode(coded:gsub("=", ""), "rawstd") == plain
  end
  expect("base64 rfc4648 vectors", all)
  expect("base64 url alphabet", encoding.b64encode("\xfb\xff", "url") == "-_8=" and
         encoding.b64encode("\xfb\xff", "rawurl") == "-_8" and encoding.b64encode("\xfb\xff") == "+/8=")
  expect("base64 url decode", encoding.b64decode("-_8", "rawurl") == "\xfb\xff")
  expect("base64 bad input", encoding.b64decode("Zm9v!") == nil and encoding.b64decode("+/8=", "url") == nil)
  expect("url encode", encoding.url_encode("a b/c&d=é") == "a%20b%2Fc%26d%3D%C3%A9")
  expect("url decode", encoding.url_decode("a%20b%2Fc+d%C3%A9") == "a b/c+dé")
  expect("url decode bad escape", encoding.url_decode("%zz") == nil)

  local a, b = uuid.v4(), crypto.uuid4()
  local shape = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"
  expect("uuid v4 shape", a:match(shape) ~= nil and b:match(shape) ~= nil and a ~= b)
  local r1, r2 = crypto.random_bytes(16), crypto.random_bytes(16)
  expect("random bytes", #r1 == 16 and #r2 == 16 and r1 ~= r2 and crypto.random_bytes(0) == "")
end

function multipart()
  local res = http.post("/echo", { form = { note = "hi", upload = http.file("hello file", "a.txt", "text/plain") } })
  local echo = res:json()
  local content_type = echo.headers["Content-Type"] or echo.headers["content-type"]
  local boundary = content_type and content_type:match("^multipart/form%-data; boundary=(.+)$")
  expect("multipart content type", boundary ~= nil)
  local body = echo.body
  expect("file part", body:find('--' .. boundary .. '\r\nContent-Disposition: form-data; name="upload"; ' ..
         'filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello file\r\n', 1, true) ~= nil)
  expect("field part", body:find('Content-Disposition: form-data; name="note"\r\n\r\nhi\r\n', 1, true) ~= nil)
  expect("closing boundary", body:sub(-(#boundary + 6)) == "--" .. boundary .. "--\r\n")
  local plain = http.post("/echo", { form = { a = "1" } }):json()
  expect("a form without a file stays urlencoded", plain.body == "a=1")
end

function templated()
  for _, code in ipairs({ 200, 201 }) do
    local res = http.get(http.url("/status/%d", code))
    expect("status " .. code, res.status == code and res.url == "/status/" .. code)
  end
  http.get(http.url("/status/%d", 202), { name = "explicit" })
  local r = http.batch({ { "GET", http.url("/status/%d", 203) } })
  expect("in a batch", r[1].status == 203)
  expect("tostring", tostring(http.url("/a/%s", "b")) == "/a/b")
end
