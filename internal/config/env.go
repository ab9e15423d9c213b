package config

// IsConfigEnv says whether name is the environment variable of a config key
// (ZOOMTRAIN_TRAIN_LR for train.lr), as Load reads them.
func IsConfigEnv(name string) bool {
	s := newSchema()
	for _, key := range s.leaves {
		if envName(key) == name {
			return true
		}
	}
	return false
}
