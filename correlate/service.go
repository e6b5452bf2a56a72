package correlate

// serviceOfProgram is the service a program's failed logins and probes attack, as the
// shipped attack rules (configs/rules/attack.d) group the programs: what one rule file
// or one rule's list of programs names is one service, where they speak one protocol.
// A fleet runs several versions and makes of a server (OpenSSH 9.8 and later log from
// sshd-session, earlier ones from sshd; MariaDB's mariadbd was mysqld), and one attack
// on it must be one sweep. Any other program is its own service.
func serviceOfProgram(program string) string {
	switch program {
	case "sshd", "sshd-session", "dropbear": // attack.d/sshd
		return "sshd"
	case "ftpd", "wu-ftpd", "wu.ftpd", "in.ftpd", "in.wuftpd", "proftpd", "pure-ftpd", "vsftpd": // attack.d/ftp
		return "ftp"
	case "mariadbd", "mysqld": // attack.d/mysql
		return "mysql"
	case "postfix/smtpd", "postfix/submission/smtpd", "postfix/smtps/smtpd", "postfix/submissions/smtpd",
		"postfix/postscreen", "exim", "exim4", "sendmail", "sm-mta": // attack.d/mail: the SMTP servers
		return "smtp"
	}
	return program
}
