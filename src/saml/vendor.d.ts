// The SAML helper packages ship no types (RUNTIME.md); these are the parts Herald calls.
declare module "@authenio/xml-encryption" {
  interface EncryptOptions {
    rsa_pub: string | Buffer;
    pem: string | Buffer;
    encryptionAlgorithm: string;
    keyEncryptionAlgorithm: string;
    disallowEncryptionWithInsecureAlgorithm?: boolean;
    warnInsecureAlgorithm?: boolean;
  }
  interface DecryptOptions {
    key: string | Buffer;
    disallowDecryptionWithInsecureAlgorithm?: boolean;
    warnInsecureAlgorithm?: boolean;
  }
  const xmlenc: {
    encrypt(content: string, options: EncryptOptions, cb: (err: Error | null, result?: string) => void): void;
    decrypt(xml: string, options: DecryptOptions, cb: (err: Error | null, result?: string) => void): void;
  };
  export default xmlenc;
}
