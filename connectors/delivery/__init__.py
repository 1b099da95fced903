"""Model 3 delivery: enquiries into the agency's own tool (signed web hook or drop
folder) and the agency's answers back, published as EnquiryResponses."""
