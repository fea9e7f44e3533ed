package emulator

import (
	"fmt"
	"strconv"
	"time"
)

// Identity is what the emulator recognizes on an ID card made with a given
// seed (see Person). Both sides of a card with the same seed belong to the
// same Identity.
type Identity struct {
	Name        string // Chinese name, 2–3 characters
	Sex         string // "男" or "女"
	Nation      string // e.g. "汉"
	Birth       string // yyyyMMdd, equals IDNumber[6:14]
	Address     string
	IDNumber    string // 18 characters, GB 11643 check digit (X for 10)
	Authority   string // issuing police bureau, e.g. "北京市公安局东城分局"
	NativePlace string // 籍贯 mapped from the region code of IDNumber
	ValidFrom   string // yyyyMMdd, issue date
	ValidTo     string // yyyyMMdd, or "长期" (holders 46 or older at issue)
}

// BankCardData is what the emulator recognizes on a bank card made with a
// given seed (see BankCard).
type BankCardData struct {
	Number    string // 16–19 digits, Luhn-valid
	ValidThru string // "MM/YYYY"
}

// region is one real county-level administrative division code (GB/T 2260)
// with the names the emulator builds addresses and authorities from.
type region struct {
	code           string
	province, city string // city is "" for the four municipalities
	district       string
	bureau         string // the police bureau issuing cards there
	streets        []string
}

var regions = []region{
	{code: "110101", province: "北京市", district: "东城区", bureau: "北京市公安局东城分局", streets: []string{"东华门街道南池子大街", "景山街道地安门东大街"}},
	{code: "110105", province: "北京市", district: "朝阳区", bureau: "北京市公安局朝阳分局", streets: []string{"建外街道建国门外大街", "望京街道阜通东大街"}},
	{code: "110108", province: "北京市", district: "海淀区", bureau: "北京市公安局海淀分局", streets: []string{"中关村街道中关村大街", "学院路街道学清路"}},
	{code: "310104", province: "上海市", district: "徐汇区", bureau: "上海市公安局徐汇分局", streets: []string{"漕河泾街道宜山路", "天平路街道衡山路"}},
	{code: "310115", province: "上海市", district: "浦东新区", bureau: "上海市公安局浦东分局", streets: []string{"陆家嘴街道世纪大道", "张江镇祖冲之路"}},
	{code: "120101", province: "天津市", district: "和平区", bureau: "天津市公安局和平分局", streets: []string{"南营门街道南京路", "劝业场街道滨江道"}},
	{code: "500103", province: "重庆市", district: "渝中区", bureau: "重庆市公安局渝中区分局", streets: []string{"解放碑街道民族路", "上清寺街道中山四路"}},
	{code: "440106", province: "广东省", city: "广州市", district: "天河区", bureau: "广州市公安局天河区分局", streets: []string{"天河南街道天河路", "石牌街道石牌东路"}},
	{code: "440305", province: "广东省", city: "深圳市", district: "南山区", bureau: "深圳市公安局南山分局", streets: []string{"粤海街道科技园路", "蛇口街道工业八路"}},
	{code: "330106", province: "浙江省", city: "杭州市", district: "西湖区", bureau: "杭州市公安局西湖区分局", streets: []string{"文新街道文一西路", "北山街道曙光路"}},
	{code: "320102", province: "江苏省", city: "南京市", district: "玄武区", bureau: "南京市公安局玄武分局", streets: []string{"新街口街道中山路", "玄武门街道北京东路"}},
	{code: "320506", province: "江苏省", city: "苏州市", district: "吴中区", bureau: "苏州市公安局吴中分局", streets: []string{"长桥街道东吴北路", "郭巷街道尹山湖路"}},
	{code: "510107", province: "四川省", city: "成都市", district: "武侯区", bureau: "成都市公安局武侯区分局", streets: []string{"玉林街道玉林南路", "浆洗街街道武侯祠大街"}},
	{code: "420111", province: "湖北省", city: "武汉市", district: "洪山区", bureau: "武汉市公安局洪山区分局", streets: []string{"珞南街道珞喻路", "关山街道关山大道"}},
	{code: "610113", province: "陕西省", city: "西安市", district: "雁塔区", bureau: "西安市公安局雁塔分局", streets: []string{"小寨路街道长安中路", "电子城街道电子二路"}},
	{code: "370202", province: "山东省", city: "青岛市", district: "市南区", bureau: "青岛市公安局市南分局", streets: []string{"八大关街道太平角一路", "香港中路街道香港中路"}},
	{code: "350203", province: "福建省", city: "厦门市", district: "思明区", bureau: "厦门市公安局思明分局", streets: []string{"鹭江街道鹭江道", "中华街道中山路"}},
	{code: "430104", province: "湖南省", city: "长沙市", district: "岳麓区", bureau: "长沙市公安局岳麓分局", streets: []string{"岳麓街道麓山南路", "望月湖街道枫林一路"}},
	{code: "410105", province: "河南省", city: "郑州市", district: "金水区", bureau: "郑州市公安局金水分局", streets: []string{"经八路街道纬五路", "花园路街道花园路"}},
	{code: "130102", province: "河北省", city: "石家庄市", district: "长安区", bureau: "石家庄市公安局长安分局", streets: []string{"建北街道中山东路", "青园街道青园街"}},
	{code: "210102", province: "辽宁省", city: "沈阳市", district: "和平区", bureau: "沈阳市公安局和平分局", streets: []string{"太原街街道中华路", "南湖街道三好街"}},
	{code: "230103", province: "黑龙江省", city: "哈尔滨市", district: "南岗区", bureau: "哈尔滨市公安局南岗分局", streets: []string{"大成街道西大直街", "花园街道红军街"}},
	{code: "530102", province: "云南省", city: "昆明市", district: "五华区", bureau: "昆明市公安局五华分局", streets: []string{"华山街道东风西路", "护国街道南屏街"}},
	{code: "450103", province: "广西壮族自治区", city: "南宁市", district: "青秀区", bureau: "南宁市公安局青秀分局", streets: []string{"新竹街道民族大道", "中山街道七星路"}},
	{code: "150102", province: "内蒙古自治区", city: "呼和浩特市", district: "新城区", bureau: "呼和浩特市公安局新城区分局", streets: []string{"东街街道新华大街", "中山东路街道中山东路"}},
	{code: "650102", province: "新疆维吾尔自治区", city: "乌鲁木齐市", district: "天山区", bureau: "乌鲁木齐市公安局天山区分局", streets: []string{"燕儿窝街道新华南路", "团结路街道团结路"}},
}

func regionByCode(code string) (region, bool) {
	for _, r := range regions {
		if r.code == code {
			return r, true
		}
	}
	return region{}, false
}

// place is the full place name of a region: province, city, district.
func (r region) place() string { return r.province + r.city + r.district }

var (
	surnames   = []string{"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "罗", "高", "欧阳", "司马"}
	givenMale  = []string{"伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "浩", "鹏", "建国", "志强", "俊杰", "子轩", "宇航", "文博"}
	givenWoman = []string{"芳", "娜", "敏", "静", "丽", "艳", "婷", "雪", "琳", "颖", "秀英", "桂兰", "雨涵", "欣怡", "梓萱", "思琪", "佳怡", "晓燕"}
	nations    = []string{"汉", "汉", "汉", "汉", "汉", "汉", "汉", "汉", "回", "满", "壮", "蒙古", "藏", "维吾尔", "苗", "彝", "土家", "朝鲜"}
)

// rng is splitmix64: tiny, and its output is fixed forever, so a seed means
// the same identity in every Go version.
type rng struct{ s uint64 }

func newRNG(seed int64, stream uint64) *rng {
	return &rng{s: uint64(seed)*0x9E3779B97F4A7C15 ^ stream}
}

func (r *rng) next() uint64 {
	r.s += 0x9E3779B97F4A7C15
	z := r.s
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// intn returns a number in [0, n), n > 0 (modulo bias is irrelevant here).
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

func pick[T any](r *rng, xs []T) T { return xs[r.intn(len(xs))] }

var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// IDCheckDigit returns the GB 11643 (ISO 7064 MOD 11-2) check character for
// the first 17 digits of an ID number, or 0 if they are not 17 digits.
func IDCheckDigit(first17 string) byte {
	if len(first17) != 17 {
		return 0
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := first17[i]
		if c < '0' || c > '9' {
			return 0
		}
		sum += int(c-'0') * idWeights[i]
	}
	return "10X98765432"[sum%11]
}

// validIDNumber reports whether s is 18 characters with a calendar-valid
// birth date and a correct check digit.
func validIDNumber(s string) bool {
	if len(s) != 18 || IDCheckDigit(s[:17]) != s[17] {
		return false
	}
	_, err := time.Parse("20060102", s[6:14])
	return err == nil
}

// Person returns the identity the emulator recognizes for seed. It is a
// pure function of seed: the same for every emulator, run and Go version.
func Person(seed int64) Identity {
	r := newRNG(seed, 0x1D)
	reg := pick(r, regions)
	// Born 1950-01-01 .. 2002-12-31 so every holder is at least 16 at issue.
	start := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)
	days := int(time.Date(2002, 12, 31, 0, 0, 0, 0, time.UTC).Sub(start).Hours() / 24)
	birth := start.AddDate(0, 0, r.intn(days+1))
	male := r.intn(2) == 0
	seq := r.intn(500) * 2 // even
	if male {
		seq++ // 17th digit odd = male
	}
	first17 := reg.code + birth.Format("20060102") + fmt.Sprintf("%03d", seq)
	id := first17 + string(IDCheckDigit(first17))

	p := Identity{Sex: "女", IDNumber: id, Birth: birth.Format("20060102")}
	given := givenWoman
	if male {
		p.Sex, given = "男", givenMale
	}
	p.Name = pick(r, surnames) + pick(r, given)
	p.Nation = pick(r, nations)
	street := pick(r, reg.streets)
	p.Address = reg.place() + street + strconv.Itoa(1+r.intn(399)) + "号"
	if r.intn(3) == 0 {
		p.Address += strconv.Itoa(1+r.intn(30)) + "栋" + strconv.Itoa(101+r.intn(20)) + "室"
	}
	p.Authority = reg.bureau
	p.NativePlace = reg.place()

	// Issued 2020-01-01 .. 2025-12-31; validity by age at issue
	// (16–25: 10 years, 26–45: 20 years, 46+: long-term), so a default card
	// is valid until at least 2030.
	istart := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	issue := istart.AddDate(0, 0, r.intn(6*365))
	age := issue.Year() - birth.Year()
	if issue.YearDay() < birth.YearDay() {
		age--
	}
	p.ValidFrom = issue.Format("20060102")
	switch {
	case age >= 46:
		p.ValidTo = LongTerm
	case age >= 26:
		p.ValidTo = issue.AddDate(20, 0, 0).Format("20060102")
	default:
		p.ValidTo = issue.AddDate(10, 0, 0).Format("20060102")
	}
	return p
}

// LongTerm is the validDate end of cards that never expire ("长期").
const LongTerm = "长期"

// bankPrefixes are real-looking issuer prefixes with the card length they
// are used with; 62 is UnionPay.
var bankPrefixes = []struct {
	prefix string
	length int
}{
	{"622202", 19}, // ICBC debit
	{"621700", 19}, // CCB debit
	{"622848", 19}, // ABC debit
	{"621483", 16}, // CMB debit
	{"622588", 16}, // CMB credit
	{"625965", 16}, // UnionPay credit
	{"623668", 19}, // CCB debit
	{"621226", 19}, // ICBC debit
	{"601382", 19}, // BOC debit
	{"955880", 19}, // ICBC legacy
	{"436742", 16}, // CCB Visa credit
	{"518710", 16}, // Mastercard credit
	{"622908", 18}, // Industrial Bank debit
	{"622700", 17}, // legacy 17-digit debit
}

// LuhnValid reports whether s is all digits and passes the Luhn check.
func LuhnValid(s string) bool {
	if len(s) < 2 {
		return false
	}
	sum := 0
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if (len(s)-1-i)%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// luhnComplete appends the Luhn check digit to body.
func luhnComplete(body string) string {
	for d := byte('0'); d <= '9'; d++ {
		if LuhnValid(body + string(d)) {
			return body + string(d)
		}
	}
	panic("unreachable")
}

// BankCard returns the bank card the emulator recognizes for seed.
func BankCard(seed int64) BankCardData {
	r := newRNG(seed, 0xBA)
	p := pick(r, bankPrefixes)
	body := []byte(p.prefix)
	for len(body) < p.length-1 {
		body = append(body, byte('0'+r.intn(10)))
	}
	return BankCardData{
		Number:    luhnComplete(string(body)),
		ValidThru: fmt.Sprintf("%02d/%d", 1+r.intn(12), 2030+r.intn(8)),
	}
}

// breakLuhn changes the last digit of a card number so it fails Luhn.
func breakLuhn(n string) string {
	if n == "" {
		return n
	}
	last := n[len(n)-1]
	d := byte('0' + (int(last-'0')+1)%10)
	return n[:len(n)-1] + string(d)
}
