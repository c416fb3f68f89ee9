// Package currency reads the ISO 4217 currency codes the services take in
// requests. A code is accepted in any case and returned in upper case, the
// case ISO 4217 writes and Estate stores and answers; codes that are not in
// ISO 4217's current list are refused, and so are the codes the standard
// keeps for precious metals, supranational units of account, bond-market
// units and testing, in which nobody can invoice.
package currency

import (
	"errors"
	"fmt"
	"strings"
)

// Errors of Parse; their text is safe to show a caller.
var (
	// ErrUnknown: the code is not an ISO 4217 currency code in use.
	ErrUnknown = errors.New("must be an ISO 4217 currency code, like EUR or usd")
	// ErrNotInvoiceable: the code is in ISO 4217 but names no currency one
	// can invoice in (XAU, XDR, XTS...).
	ErrNotInvoiceable = errors.New("is an ISO 4217 code of a precious metal, a unit of account or testing, not a currency one can invoice in")
)

// Parse returns code in upper case, or ErrUnknown or ErrNotInvoiceable.
func Parse(code string) (string, error) {
	if len(code) != 3 {
		return "", ErrUnknown
	}
	up := strings.ToUpper(code)
	switch codes[up] {
	case kindInvoiceable:
		return up, nil
	case kindNotInvoiceable:
		return "", fmt.Errorf("%s %w", up, ErrNotInvoiceable)
	}
	return "", ErrUnknown
}

type kind int

const (
	_ kind = iota // not in ISO 4217
	kindInvoiceable
	kindNotInvoiceable
)

// codes maps each ISO 4217 code to its kind; a code not in it is unknown.
var codes = func() map[string]kind {
	m := map[string]kind{}
	for _, c := range strings.Fields(invoiceable) {
		m[c] = kindInvoiceable
	}
	for _, c := range strings.Fields(notInvoiceable) {
		m[c] = kindNotInvoiceable
	}
	return m
}()

// invoiceable is ISO 4217's list of current currencies and funds (list one,
// as amended to 2025), less the codes of notInvoiceable. Withdrawn codes
// (HRK, ANG, SLL, ZWL, CUC...) are not in it: an invoice cannot be issued
// in a currency that no longer exists. The funds codes (BOV, CLF, MXV,
// USN...) stay: contracts are written in them.
const invoiceable = " AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD" +
	" CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP" +
	" GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP" +
	" LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN" +
	" PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT" +
	" TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG "

// notInvoiceable are the ISO 4217 codes of gold, silver, platinum and
// palladium, of the SDR and the other units of account (XSU, XUA, the
// European bond-market units XBA to XBD), and the testing and "no
// currency" codes.
const notInvoiceable = " XAG XAU XBA XBB XBC XBD XDR XPD XPT XSU XTS XUA XXX "
